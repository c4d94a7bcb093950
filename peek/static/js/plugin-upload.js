// The admin Plugins page: drag and drop (or choose) a package, upload it with a
// progress bar, then follow the server's install job (an HTMX partial).
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const zone = document.getElementById("drop-zone");
  const input = form.querySelector("input[type=file]");
  const progress = document.getElementById("upload-progress");
  const bar = document.getElementById("upload-bar");
  const stage = document.getElementById("upload-stage");
  const jobBox = document.getElementById("upload-job");
  const limits = document.getElementById("plugin-upload").dataset;
  const maxBytes = Number(limits.maxBytes);
  const maxReleaseBytes = Number(limits.maxReleaseBytes);

  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (event) => {
    event.preventDefault();
    zone.classList.add("peek-dragging");
  }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("peek-dragging")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      send(event.dataTransfer.files[0]);
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.files.length) send(input.files[0]);
  });

  function fail(text) {
    progress.hidden = true;
    jobBox.innerHTML = "";
    const p = document.createElement("p");
    p.className = "peek-error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    jobBox.appendChild(p);
  }

  function send(file) {
    // A .zip may be a release archive (the server tells): those may be larger.
    const limit = file.name.toLowerCase().endsWith(".zip") ? maxReleaseBytes : maxBytes;
    if (file.size > limit) {
      fail(`${file.name} is ${Math.ceil(file.size / 1048576)} MiB; packages may be at most ${maxBytes / 1048576} MiB, release archives ${maxReleaseBytes / 1048576} MiB.`);
      return;
    }
    const data = new FormData(form);
    data.set("package", file);
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-CSRFToken", form.querySelector("[name=csrf_token]").value);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
    });
    request.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch (e) { /* not JSON */ }
      if (request.status !== 202) {
        fail(body.error || `The upload failed (HTTP ${request.status}).`);
        return;
      }
      progress.hidden = true;
      htmx.ajax("GET", body.status, { target: jobBox, swap: "innerHTML" });
    });
    request.addEventListener("error", () => fail("The upload failed: the server did not answer."));
    jobBox.innerHTML = "";
    stage.textContent = "Uploading";
    document.getElementById("upload-file").textContent = file.name;
    bar.value = 0;
    progress.hidden = false;
    request.send(data);
  }
});
