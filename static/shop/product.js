// Variant picker: the chosen options select a variant; price, stock and image follow it.
(function () {
  "use strict";
  var dataEl = document.getElementById("variant-data");
  if (!dataEl) return;
  var variants = JSON.parse(dataEl.textContent);
  var form = document.getElementById("variant-form");
  var axes = Array.prototype.slice.call(form.querySelectorAll("fieldset.axis"));

  function chosen() {
    return axes.map(function (fs) {
      var input = fs.querySelector("input:checked");
      return input ? parseInt(input.value, 10) : null;
    });
  }

  function match(values) {
    return variants.find(function (v) {
      return values.every(function (id) { return id === null || v.options.indexOf(id) !== -1; });
    });
  }

  function show(v) {
    var status = document.getElementById("stock-status");
    if (!v) {
      status.textContent = status.dataset.unavailable || "—";
      status.className = "status out";
      return;
    }
    document.getElementById("price").textContent = v.price;
    document.getElementById("was").textContent = v.was;
    document.getElementById("sku").textContent = v.sku;
    document.getElementById("variant-id").value = v.id;
    status.textContent = v.status_label;
    status.className = "status " + v.status;
    if (v.image) {
      document.getElementById("main-image").src = v.image;
      document.getElementById("main-image").removeAttribute("srcset");
      document.getElementById("zoom-link").href = v.zoom;
    }
  }

  // Grey out option values that no variant offers together with the other choices.
  function markAvailable() {
    var values = chosen();
    axes.forEach(function (fs, i) {
      fs.querySelectorAll("input").forEach(function (input) {
        var trial = values.slice();
        trial[i] = parseInt(input.value, 10);
        input.parentElement.classList.toggle("unavailable", !match(trial));
      });
    });
  }

  form.addEventListener("change", function () { show(match(chosen())); markAvailable(); });
  document.querySelectorAll(".thumb").forEach(function (btn) {
    btn.addEventListener("click", function () {
      document.getElementById("main-image").src = btn.dataset.listing;
      document.getElementById("main-image").removeAttribute("srcset");
      document.getElementById("zoom-link").href = btn.dataset.zoom;
    });
  });
  markAvailable();
})();
