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

  // Option value id -> its axis (0 = first, e.g. colour).
  var axisOf = {};
  axes.forEach(function (fs, i) {
    fs.querySelectorAll("input").forEach(function (input) { axisOf[input.value] = i; });
  });

  // The variant's own photo or, as most variants have none (one photo per colour), the
  // photo of the variant sharing its options, earlier axes weighing more: blue XL shows
  // the blue photo, not the photo of another colour in XL.
  function photoFor(v) {
    if (v.image) return v;
    var best = null, bestScore = 0;
    variants.forEach(function (w) {
      if (!w.image) return;
      var score = 0;
      w.options.forEach(function (id) {
        if (v.options.indexOf(id) !== -1 && axisOf[id] !== undefined) score += Math.pow(2, axes.length - axisOf[id]);
      });
      if (score > bestScore) { best = w; bestScore = score; }
    });
    return best;
  }

  // An out-of-stock variant cannot be bought (the server refuses it too); its "tell me when
  // it is back" form is offered instead.
  function setBuyable(v) {
    var out = !v || v.status === "out";
    document.querySelectorAll("#add-form button[type=submit], button[form=add-form]").forEach(function (b) {
      b.disabled = out;
    });
    var alertForm = document.getElementById("alert-form");
    if (alertForm) {
      alertForm.hidden = !(v && v.status === "out");
      if (v) document.getElementById("alert-variant").value = v.id;
    }
  }

  function show(v) {
    var status = document.getElementById("stock-status");
    setBuyable(v);
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
    var photo = photoFor(v);
    if (photo) {
      document.getElementById("main-image").src = photo.image;
      document.getElementById("main-image").removeAttribute("srcset");
      document.getElementById("zoom-link").href = photo.zoom;
    }
  }

  // Grey out option values that no variant offers together with the other choices, and strike
  // through those whose variant is out of stock, saying so in words (not colour alone).
  var soldOutText = form.dataset.soldout || "";
  function markAvailable() {
    var values = chosen();
    axes.forEach(function (fs, i) {
      fs.querySelectorAll("input").forEach(function (input) {
        var trial = values.slice();
        trial[i] = parseInt(input.value, 10);
        var offered = variants.filter(function (v) {
          return trial.every(function (id) { return id === null || v.options.indexOf(id) !== -1; });
        });
        var soldOut = offered.length > 0 && offered.every(function (v) { return v.status === "out"; });
        var label = input.parentElement;
        label.classList.toggle("unavailable", !offered.length);
        label.classList.toggle("soldout", soldOut);
        var note = label.querySelector(".soldout-note");
        if (soldOut && !note && soldOutText) {
          note = document.createElement("small");
          note.className = "soldout-note";
          note.textContent = soldOutText;
          label.appendChild(note);
        }
        if (note) note.hidden = !soldOut;
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
  setBuyable(match(chosen()));

  // Catalogue pages are cached whole and carry no CSRF token: fetch one before posting.
  ["add-form", "alert-form"].forEach(function (formId) {
    var addForm = document.getElementById(formId);
    if (!addForm) return;
    addForm.addEventListener("submit", function (event) {
      var tokenInput = addForm.querySelector("input[name=csrfmiddlewaretoken]");
      if (tokenInput.value) return;
      event.preventDefault();
      var submitter = event.submitter;
      fetch(addForm.dataset.csrfUrl || "/cart/csrf/", { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          tokenInput.value = data.token;
          if (submitter && submitter.name) {
            var extra = document.createElement("input");
            extra.type = "hidden"; extra.name = submitter.name; extra.value = submitter.value;
            addForm.appendChild(extra);
          }
          addForm.submit();
        });
    });
  });
})();
