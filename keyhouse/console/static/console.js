// Progressive help; the server checks everything again.
document.addEventListener("DOMContentLoaded", () => {
  // Times in the reader's own zone (the UTC time stays in the tooltip).
  const local = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  for (const time of document.querySelectorAll("time[datetime]")) {
    const at = new Date(time.getAttribute("datetime"));
    if (!Number.isNaN(at.getTime())) time.textContent = local.format(at);
  }
  // A table wider than its page scrolls sideways: say so above it (and again on resizing).
  const cue = () => {
    for (const wrap of document.querySelectorAll(".table-wrap")) {
      wrap.classList.toggle("scrolls", wrap.scrollWidth > wrap.clientWidth + 1);
    }
  };
  cue();
  window.addEventListener("resize", cue);
  // Destructive actions open a modal dialog; Cancel (or Escape) closes it.
  for (const opener of document.querySelectorAll("[data-dialog]")) {
    opener.addEventListener("click", () => document.getElementById(opener.dataset.dialog).showModal());
  }
  // A dialog the server asks to open (a confirmation it needs before it acts).
  for (const pending of document.querySelectorAll("dialog[data-open]")) pending.showModal();
  for (const close of document.querySelectorAll("dialog [data-close]")) {
    close.addEventListener("click", () => close.closest("dialog").close());
  }
  // A typed confirmation keeps its button disabled until the text matches.
  for (const input of document.querySelectorAll("[data-must-equal]")) {
    const button = input.form.querySelector("[data-confirm-button]");
    const sync = () => { button.disabled = input.value.trim() !== input.dataset.mustEqual; };
    input.addEventListener("input", sync);
    sync();
  }
  // A policy editor checks its JSON before it can be saved.
  for (const editor of document.querySelectorAll("textarea[data-json]")) {
    const status = document.getElementById(editor.dataset.json);
    const save = editor.form.querySelector("[data-needs-valid]");
    const check = () => {
      let problem = "";
      try {
        const doc = JSON.parse(editor.value);
        const trust = editor.dataset.kind === "trust";
        if (trust || editor.dataset.kind === "permission") {
          if (!Array.isArray(doc.Statement) || doc.Statement.length === 0) problem = "Statement must be a non-empty list.";
          else if (doc.Statement.some((s) => !["Allow", "Deny"].includes(s.Effect))) problem = "Each statement's Effect must be Allow or Deny.";
          else if (doc.Statement.some((s) => s.Action === undefined)) problem = trust ? "Each statement needs an Action (sts:AssumeRole)." : "Each statement needs an Action.";
          else if (trust && doc.Statement.some((s) => !s.Principal || typeof s.Principal !== "object")) problem = "Each statement needs a Principal: {\"RAM\": [\"acs:ram::<AccountId>:root\"]}.";
        }
      } catch (error) {
        problem = `Not valid JSON: ${error.message}`;
      }
      status.textContent = problem || "Valid JSON.";
      status.className = problem ? "error" : "notice";
      editor.setAttribute("aria-invalid", problem ? "true" : "false");
      if (save) save.disabled = Boolean(problem);
    };
    editor.addEventListener("input", check);
    check();
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
