/* GET /NAME/snapshot.jpg: the snapshot adapter of the HTTP layer, routed
 * from HttpCore::dispatch (http.cpp) after the path's read credentials were
 * checked. The picture comes from Snapshots (snapshot.h): cached, or decoded
 * on a worker while the request is paused (as a WHEP POST is while its
 * answer is made). An idle on-demand path is not started for it.
 *
 * Lifetimes: a paused request is held (a ref on its message) by the
 * callback Snapshots keeps; decodes are bounded in time, so it is answered
 * within SNAPSHOT_DECODE_TIMEOUT_US. If the server goes first, Snapshots
 * drops the callback and with it the message. */
#include "httpcore.h"

#define GST_CAT_DEFAULT gw_http_debug

namespace gw {

using namespace http;

namespace {

/* One request waiting for its picture. */
struct SnapshotRequest
{
  SoupServerMessage *msg = nullptr; /* ref held */
  bool paused = false;
  bool answered = false;
  bool finished = false; /* libsoup is done with it (the client went away) */
  gulong finished_id = 0;

  ~SnapshotRequest ()
  {
    if (finished_id)
      g_signal_handler_disconnect (msg, finished_id);
    g_clear_object (&msg);
  }
};

void
answer (SnapshotRequest &r, const SnapshotResult &result)
{
  if (r.answered || r.finished)
    return;
  r.answered = true;
  SoupMessageHeaders *h = soup_server_message_get_response_headers (r.msg);
  soup_message_headers_replace (h, "Cache-Control", "no-store");
  if (result.status == 200 && result.jpeg) {
    soup_server_message_set_status (r.msg, SOUP_STATUS_OK, NULL);
    gsize size = 0;
    const void *data = g_bytes_get_data (result.jpeg.get (), &size);
    soup_server_message_set_response (r.msg, "image/jpeg", SOUP_MEMORY_COPY, (const char *)data,
                                      size);
  } else {
    respond (r.msg, result.status ? result.status : (guint)SOUP_STATUS_INTERNAL_SERVER_ERROR,
             result.reason);
  }
  if (r.paused) {
    r.paused = false;
    soup_server_message_unpause (r.msg);
  }
}

} // namespace

void
HttpCore::serve_snapshot (SoupServerMessage *msg, const std::string &name)
{
  guint width = 0;
  std::string reason;
  if (!snapshot_parse_width (g_uri_get_query (soup_server_message_get_uri (msg)), width, reason)) {
    respond (msg, SOUP_STATUS_BAD_REQUEST, reason);
    return;
  }
  auto path = manager.find_path (name);
  if (!path) {
    respond (msg, SOUP_STATUS_NOT_FOUND, "unknown path");
    return;
  }
  switch (path->state ()) {
  case Path::State::Idle:
    respond (msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
             "the path is idle (an on-demand path starts for a viewer, not for a snapshot)");
    return;
  case Path::State::Starting:
    respond (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "the path is starting");
    return;
  case Path::State::Closing:
    respond (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "the path is closing");
    return;
  case Path::State::Ready:
    break;
  }

  auto req = std::make_shared<SnapshotRequest> ();
  req->msg = (SoupServerMessage *)g_object_ref (msg);
  req->finished_id
      = g_signal_connect (msg, "finished", G_CALLBACK (+[] (SoupServerMessage *, gpointer data) {
                            static_cast<SnapshotRequest *> (data)->finished = true;
                          }),
                          req.get ());
  GstSample *key = path->keyframe ();
  snapshots.get (name, width, key, [req] (const SnapshotResult &result) { answer (*req, result); });
  if (key)
    gst_sample_unref (key);
  if (!req->answered) {
    req->paused = true;
    soup_server_message_pause (msg);
  }
}

} // namespace gw
