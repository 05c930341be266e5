// Progressive help only: every form works without it (the server checks everything).
document.addEventListener("DOMContentLoaded", () => {
  // A typed-ID confirmation keeps its button disabled until the ID matches.
  for (const input of document.querySelectorAll("[data-must-equal]")) {
    const button = input.form.querySelector("[data-confirm-button]");
    const sync = () => { button.disabled = input.value.trim() !== input.dataset.mustEqual; };
    input.addEventListener("input", sync);
    sync();
  }
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const text = document.querySelector(button.dataset.copy).textContent;
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    });
  }
  for (const button of document.querySelectorAll("[data-download-csv]")) {
    button.addEventListener("click", () => {
      const id = document.querySelector(button.dataset.id).textContent;
      const secret = document.querySelector(button.dataset.secret).textContent;
      const csv = `AccessKey ID,AccessKey Secret\n${id},${secret}\n`;
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
      link.download = `AccessKey-${id}.csv`;
      link.click();
      URL.revokeObjectURL(link.href);
    });
  }
});
