// The product admin's specification rows (catalog.forms.SpecificationsWidget): "Add a row"
// appends an empty row and raises the hidden row count the form reads, up to its maximum.
// Without this script the button stays hidden and three empty rows are always there.
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button.spec-add")) {
    const table = document.getElementById(button.dataset.table);
    const count = document.querySelector(`input[name="${button.dataset.rows}"]`);
    if (!table || !count || !table.tBodies[0].rows.length) continue;
    const max = Number(button.dataset.max);
    button.hidden = false;
    button.addEventListener("click", () => {
      const index = Number(count.value);
      if (index >= max) {
        button.disabled = true;
        return;
      }
      const body = table.tBodies[0];
      const row = body.rows[body.rows.length - 1].cloneNode(true);
      for (const input of row.querySelectorAll("input")) {
        input.name = input.name.replace(/-\d+-(\w+)$/, `-${index}-$1`);
        input.value = "";
        const label = input.getAttribute("aria-label") || "";
        input.setAttribute("aria-label", label.replace(/\d+$/, String(index + 1)));
      }
      body.appendChild(row);
      count.value = String(index + 1);
      button.disabled = index + 1 >= max;
      row.querySelector("input").focus();
    });
  }
});
