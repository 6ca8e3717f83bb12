// The address form's dependent selects: choosing a province loads its cities, choosing a city
// its districts (GET accounts:divisions, JSON in the page's language). The server renders the
// same lists and checks them on submit, so without this script the form still works: a submit
// re-renders the lists for what was chosen and says what is missing.
(function () {
  "use strict";

  function fill(select, data) {
    select.innerHTML = "";
    var empty = document.createElement("option");
    empty.value = "";
    empty.textContent = data.empty;
    select.appendChild(empty);
    data.options.forEach(function (pair) {
      var option = document.createElement("option");
      option.value = pair[0];
      option.textContent = pair[1];
      select.appendChild(option);
    });
  }

  function clear(select) {
    // Keep only the first option, the placeholder; the server's text for it stays.
    while (select.options.length > 1) select.remove(1);
    select.value = "";
  }

  function load(url, code, select) {
    clear(select);
    if (!code) return Promise.resolve();
    select.disabled = true;
    return fetch(url.replace("CODE", encodeURIComponent(code)), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (data) { fill(select, data); })
      .catch(function () { /* the server re-renders the list on submit */ })
      .finally(function () { select.disabled = false; });
  }

  document.querySelectorAll("[data-divisions-url]").forEach(function (box) {
    var url = box.getAttribute("data-divisions-url");
    var province = box.querySelector("select[data-division=province]");
    var city = box.querySelector("select[data-division=city]");
    var district = box.querySelector("select[data-division=district]");
    if (!province || !city || !district) return;
    province.addEventListener("change", function () {
      clear(district);
      load(url, province.value, city);
    });
    city.addEventListener("change", function () {
      load(url, city.value, district);
    });
  });
})();
