// The admin's export page: "Select all" (django-import-export binds it with an inline onchange
// attribute, which the Content-Security-Policy blocks). onSelectToggleChange comes from
// import_export/export_selectable_fields.js, loaded before this file.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  if (typeof onSelectToggleChange !== "function") return;
  document.querySelectorAll("input.select-toggle").forEach(function (toggle) {
    toggle.addEventListener("change", onSelectToggleChange);
  });
});
