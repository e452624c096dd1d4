// Countdowns (rate limits, the resend cooldown), the live delivery status (Server-Sent Events)
// and the code filled from the SMS (WebOTP).
(function () {
  "use strict";

  function format(seconds) {
    return Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
  }

  // <span class="countdown" data-seconds="N" data-enables="ID" data-hides="ID">: counts down
  // from N, then enables one element and hides another.
  document.querySelectorAll(".countdown").forEach(function (el) {
    var end = Date.now() + Number(el.dataset.seconds) * 1000;
    (function tick() {
      var left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      el.textContent = format(left);
      if (left > 0) {
        setTimeout(tick, 250);
        return;
      }
      var enable = el.dataset.enables && document.getElementById(el.dataset.enables);
      if (enable) enable.disabled = false;
      var hide = el.dataset.hides && document.getElementById(el.dataset.hides);
      if (hide) hide.hidden = true;
    })();
  });

  var status = document.getElementById("delivery-status");
  if (status && window.EventSource) {
    var labels = JSON.parse(status.dataset.labels);
    var source = new EventSource("/events");
    source.addEventListener("stage", function (event) {
      var stage = JSON.parse(event.data).stage;
      status.dataset.stage = stage;
      status.textContent = labels[stage] || stage;
      if (stage === "gone") source.close();
    });
  }

  // WebOTP: with OTP_WEBOTP_DOMAIN set, the SMS ends with "@<domain> #<code>" and the browser
  // offers the code; the input's autocomplete="one-time-code" covers the keyboards that read it.
  var code = document.getElementById("code");
  if (code && "OTPCredential" in window) {
    var abort = new AbortController();
    code.form.addEventListener("submit", function () { abort.abort(); });
    navigator.credentials.get({otp: {transport: ["sms"]}, signal: abort.signal})
      .then(function (otp) { if (otp) code.value = otp.code; })
      .catch(function () {});
  }
})();
