// Reviews on the product page: filter and page links fetch the review block's fragment
// (?partial=1) and swap it in place; without JavaScript, or when the fetch fails, they are
// ordinary links to the reviews page.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-reviews] a[data-nav]");
    if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    var block = link.closest("[data-reviews]");
    var url = new URL(link.href, window.location.href);
    url.searchParams.set("partial", "1");
    url.hash = "";
    event.preventDefault();
    block.setAttribute("aria-busy", "true");
    fetch(url.toString(), { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.text();
      })
      .then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var fresh = holder.querySelector("[data-reviews]");
        if (!fresh) throw new Error("no review block");
        block.replaceWith(fresh);
        fresh.scrollIntoView({ block: "start" });
      })
      .catch(function () {
        window.location.href = link.href;
      });
  });
})();
