/* The browser player page: see gwplayerpage.h. */
#include "gwplayerpage.h"

/* clang-format mangles raw strings (R "...): keep the page as written. */
// clang-format off
static const char player_page[] = R"GWPAGE(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Live stream</title>
<style>
  html, body { margin: 0; height: 100%; background: #000; color: #ddd;
               font: 14px system-ui, sans-serif; }
  video { display: block; width: 100%; height: 100%; object-fit: contain; }
  #state { position: fixed; left: 8px; top: 8px; padding: 2px 8px; border-radius: 4px;
           background: rgba(0, 0, 0, 0.6); pointer-events: none; }
  #state.ok { color: #8f8; }
  #state.bad { color: #f88; }
</style>
</head>
<body>
<video id="video" muted autoplay playsinline controls></video>
<div id="state">starting</div>
<script>
(() => {
  'use strict';

  // Relative on purpose: "/whep" when the page is "/", "/NAME/whep" when it
  // is "/NAME/".
  const whepUrl = new URL('whep', location.href).href;
  const reportUrl = new URLSearchParams(location.search).get('report');

  const GATHER_MS = 2000;        // longest wait for our ICE candidates
  const CONNECT_MS = 25000;      // an attempt that is not connected by then is retried
  const DISCONNECTED_MS = 4000;  // "disconnected" for longer than this: retry
  const STALL_MS = 6000;         // connected but nothing new for this long: retry

  const video = document.getElementById('video');
  const label = document.getElementById('state');

  let pc = null;            // the current RTCPeerConnection
  let session = null;       // its WHEP session URL, once answered
  let failures = 0;         // attempts in a row that brought no media (back-off)
  let retryTimer = 0;
  let attemptAt = 0, connectedAt = 0, disconnectedAt = 0;
  let progress = 0, progressAt = 0;
  let stats = { framesDecoded: 0, codec: '' };
  let status = 'starting';

  function show(text, cls) {
    status = text;
    label.textContent = text;
    label.className = cls || '';
  }

  function waitForGathering(peer) {
    return new Promise((resolve) => {
      if (peer.iceGatheringState === 'complete') {
        resolve();
        return;
      }
      let timer = 0;
      const check = () => {
        if (peer.iceGatheringState === 'complete')
          done();
      };
      const done = () => {
        clearTimeout(timer);
        peer.removeEventListener('icegatheringstatechange', check);
        resolve();
      };
      timer = setTimeout(done, GATHER_MS);
      peer.addEventListener('icegatheringstatechange', check);
    });
  }

  function deleteSession(url) {
    if (url)
      fetch(url, { method: 'DELETE', keepalive: true }).catch(() => {});
  }

  function teardown() {
    deleteSession(session);
    session = null;
    if (pc) {
      pc.close();
      pc = null;
    }
  }

  function retry(reason) {
    if (retryTimer)
      return;
    teardown();
    failures++;
    const delay = Math.min(2000 * failures, 10000);
    show(reason + ' - retrying in ' + Math.round(delay / 1000) + ' s', 'bad');
    retryTimer = setTimeout(() => {
      retryTimer = 0;
      start();
    }, delay);
  }

  // Whether the answer accepted our video m-line (a stream may be audio only).
  function expectsVideo(peer) {
    const t = peer.getTransceivers().find((x) => x.receiver.track.kind === 'video');
    return !!t && (t.currentDirection === 'recvonly' || t.currentDirection === 'sendrecv');
  }

  async function start() {
    const peer = new RTCPeerConnection();
    pc = peer;
    attemptAt = Date.now();
    connectedAt = disconnectedAt = progress = progressAt = 0;
    stats = { framesDecoded: 0, codec: '' };
    show('connecting');

    peer.addTransceiver('video', { direction: 'recvonly' });
    peer.addTransceiver('audio', { direction: 'recvonly' });
    const stream = new MediaStream();
    peer.ontrack = (ev) => {
      if (pc !== peer)
        return;
      stream.addTrack(ev.track);
      if (video.srcObject !== stream)
        video.srcObject = stream;
      video.play().catch(() => {});
    };
    peer.onconnectionstatechange = () => {
      if (pc !== peer)
        return;
      const s = peer.connectionState;
      show(s, s === 'connected' ? 'ok' : (s === 'failed' ? 'bad' : ''));
      if (s === 'connected') {
        connectedAt = Date.now();
        disconnectedAt = 0;
      } else if (s === 'disconnected') {
        if (!disconnectedAt)
          disconnectedAt = Date.now();
      } else if (s === 'failed') {
        retry('connection failed');
      }
    };

    try {
      await peer.setLocalDescription(await peer.createOffer());
      // Non-trickle: the offer carries our candidates.
      await waitForGathering(peer);
      if (pc !== peer)
        return;
      const res = await fetch(whepUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp' },
        body: peer.localDescription.sdp,
      });
      const text = await res.text();
      if (res.status !== 201)
        throw new Error('server answered ' + res.status + (text ? ': ' + text.trim() : ''));
      const location = res.headers.get('Location');
      const url = location ? new URL(location, whepUrl).href : null;
      if (pc !== peer) {
        deleteSession(url);
        return;
      }
      session = url;
      await peer.setRemoteDescription({ type: 'answer', sdp: text });
    } catch (e) {
      if (pc === peer)
        retry((e && e.message) || String(e));
    }
  }

  async function watch() {
    const peer = pc;
    if (!peer)
      return;
    let report;
    try {
      report = await peer.getStats();
    } catch (e) {
      return;  // closed meanwhile
    }
    if (pc !== peer)
      return;
    let frames = 0, codec = '', audioPackets = 0;
    report.forEach((r) => {
      if (r.type !== 'inbound-rtp')
        return;
      const kind = r.kind || r.mediaType;
      if (kind === 'video') {
        frames = r.framesDecoded || 0;
        const c = r.codecId ? report.get(r.codecId) : null;
        if (c && c.mimeType)
          codec = c.mimeType;
      } else if (kind === 'audio') {
        audioPackets = r.packetsReceived || 0;
      }
    });
    stats = { framesDecoded: frames, codec: codec };

    const now = Date.now();
    const p = expectsVideo(peer) ? frames : audioPackets;
    if (p > progress) {
      progress = p;
      progressAt = now;
      failures = 0;
    }
    const s = peer.connectionState;
    if (s === 'connected') {
      if (now - Math.max(connectedAt, progressAt) > STALL_MS)
        retry('the stream stalled');
    } else if (s === 'disconnected') {
      if (disconnectedAt && now - disconnectedAt > DISCONNECTED_MS)
        retry('connection lost');
    } else if (now - attemptAt > CONNECT_MS) {
      retry('could not connect');
    }
  }

  function sendReport() {
    if (!reportUrl)
      return;
    const body = JSON.stringify({
      state: pc ? pc.connectionState : status,
      framesDecoded: stats.framesDecoded,
      videoWidth: video.videoWidth,
      videoHeight: video.videoHeight,
      codec: stats.codec,
    });
    fetch(reportUrl, { method: 'POST', mode: 'no-cors', body: body }).catch(() => {});
  }

  setInterval(() => {
    watch().finally(sendReport);
  }, 1000);
  window.addEventListener('pagehide', teardown);
  start();
})();
</script>
</body>
</html>
)GWPAGE";
// clang-format on

const char *
gw_player_page_html (void)
{
  return player_page;
}
