/* Snapshots: one JPEG picture of a path, decoded on demand from the kept
 * keyframe of its video stream (gw_stream_get_keyframe), for
 * GET /NAME/snapshot.jpg (docs/http-api.md).
 *
 * No decoder runs between requests: each decode is a short-lived pipeline
 * (appsrc ! parser ! decoder ! videoconvert ! videoscale ! jpegenc ! appsink,
 * the parser and decoder from the codec table) run on a Worker, never on
 * the main context, and bounded in time. Pictures are kept for a second per
 * path and width, and requests for a picture being decoded wait for that
 * decode instead of starting another.
 *
 * Threads: decode_jpeg() runs on any thread but the main context (it
 * waits); Snapshots is main-context only, and its callbacks run there. */
#pragma once

#include <gst/gst.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gw {

/* The bounds of ?width=. */
constexpr guint SNAPSHOT_MIN_WIDTH = 16;
constexpr guint SNAPSHOT_MAX_WIDTH = 3840;
/* How long a picture is served again, and how long a decode may take. */
constexpr gint64 SNAPSHOT_CACHE_US = G_USEC_PER_SEC;
constexpr gint64 SNAPSHOT_DECODE_TIMEOUT_US = 5 * G_USEC_PER_SEC;
/* Decodes running at once, over every path and width; more get a 503. */
constexpr guint SNAPSHOT_MAX_DECODING = 4;

/* The outcome of a snapshot: 200 with the JPEG, or an HTTP error status and
 * its reason. */
struct SnapshotResult
{
  guint status = 0;
  std::string reason;
  std::shared_ptr<GBytes> jpeg; /* for 200 */
};

/* Reads ?width= from a request's query string (@query may be NULL): @width
 * is 0 when absent (the picture keeps the stream's size). False, with
 * @reason, for a value that is not a whole number within
 * SNAPSHOT_MIN_WIDTH..SNAPSHOT_MAX_WIDTH or a query that does not parse. */
bool snapshot_parse_width (const char *query, guint &width, std::string &reason);

/* Decodes the access unit of @keyframe (with its caps) into one JPEG, @width
 * pixels wide keeping the aspect ratio (0: the stream's own size). Waits
 * up to @timeout_us; not on the main context. 501 when the codec has no
 * decoder or an element is not installed, 503 when the decode fails or
 * takes too long. Everything it made is freed before it returns. */
SnapshotResult snapshot_decode_jpeg (GstSample *keyframe, guint width, gint64 timeout_us);

class Snapshots
{
public:
  using Done = std::function<void (const SnapshotResult &)>;

  Snapshots ();
  /* Decodes still running finish on their worker; their results go
   * nowhere, and pending callbacks are dropped without being called. */
  ~Snapshots ();
  Snapshots (const Snapshots &) = delete;
  Snapshots &operator= (const Snapshots &) = delete;

  /* The picture of path @path at @width: @done is called now if one is
   * cached (or the decoder limit is reached), else once the decode of
   * @keyframe (a new ref is taken; NULL: 503, no keyframe) finishes. */
  void get (const std::string &path, guint width, GstSample *keyframe, Done done);

  /* Decodes running now (for tests and logs). */
  guint n_decoding () const;

private:
  using Key = std::pair<std::string, guint>;
  struct Cached
  {
    gint64 at = 0;
    SnapshotResult result;
  };
  struct State
  {
    std::map<Key, Cached> cache;
    std::map<Key, std::vector<Done> > pending;
  };
  std::shared_ptr<State> state_;

  static void finished (const std::weak_ptr<State> &weak, const Key &key,
                        const SnapshotResult &result);
};

} // namespace gw
