// The Logs page: open at the newest record, and keep it in view while new ones
// arrive (unless the reader scrolled up, or came for a linked record).
(() => {
  const KEEP = 3000;  // records kept on the page; the oldest go as new ones come
  const box = document.getElementById("log-records");
  if (!box) return;
  const atBottom = () => box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  let stick = !location.hash;
  if (stick) box.scrollTop = box.scrollHeight;
  box.addEventListener("htmx:oobBeforeSwap", () => { stick = atBottom(); });
  box.addEventListener("htmx:oobAfterSwap", () => {
    const records = box.querySelectorAll(".peek-log-record");
    for (let i = 0; i < records.length - KEEP; i++) records[i].remove();
    if (stick) box.scrollTop = box.scrollHeight;
  });
})();
