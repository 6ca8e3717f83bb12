// The one-page confirm: changing the address, shipping, insurance or payment shows the page
// again with that choice's totals (the form's "update the total" button), so "place order"
// always posts the choice whose total is on screen. A file, not an inline handler: the
// Content-Security-Policy forbids those. Without JavaScript the button does the same, and a
// choice changed without it is shown again by the server rather than placed.
(function () {
  "use strict";
  var form = document.getElementById("confirm-form");
  var update = document.getElementById("update-totals");
  if (!form || !update) return;
  var names = { address: 1, shipping_method: 1, insured: 1, payment_method: 1 };
  form.addEventListener("change", function (event) {
    var field = event.target;
    if (!field || !names[field.name]) return;
    var place = document.getElementById("place-order");
    if (place) place.disabled = true; // until the new total is shown
    if (form.requestSubmit) form.requestSubmit(update);
    else update.click();
  });
})();
