/* Snapshots (snapshot.h): the decode pipeline and the one-second cache. */
#include "snapshot.h"

#include "gwcodec.h"
#include "mainctx.h"

#include <gst/app/app.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gw_snapshot_debug);
#define GST_CAT_DEFAULT gw_snapshot_debug

namespace gw {

namespace {

/* HTTP statuses (this file knows no libsoup). */
constexpr guint NOT_IMPLEMENTED = 501;
constexpr guint UNAVAILABLE = 503;

void
ensure_debug ()
{
  static gsize once = 0;
  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (gw_snapshot_debug, "gwsnapshot", 0, "gateway snapshots");
    g_once_init_leave (&once, 1);
  }
}

SnapshotResult
fail (guint status, const std::string &reason)
{
  SnapshotResult r;
  r.status = status;
  r.reason = reason;
  return r;
}

/* An element the decode needs; NULL with @reason if it is not installed. */
GstElement *
need (GstElement *e, const char *factory, const char *package, std::string &reason)
{
  if (!e && reason.empty ())
    reason = std::string ("cannot decode a snapshot: the element ") + factory
             + " is not installed (" + package + ")";
  return e;
}

} // namespace

bool
snapshot_parse_width (const char *query, guint &width, std::string &reason)
{
  width = 0;
  if (!query || !*query)
    return true;
  GHashTable *params = g_uri_parse_params (query, -1, "&", G_URI_PARAMS_NONE, NULL);
  if (!params) {
    reason = "the query string does not parse";
    return false;
  }
  const char *v = (const char *)g_hash_table_lookup (params, "width");
  bool ok = true;
  if (v) {
    guint64 n = 0;
    /* Digits only: no sign, no spaces, no hex, at most 4 of them. */
    ok = *v && strlen (v) <= 4;
    for (const char *c = v; ok && *c; c++)
      ok = g_ascii_isdigit (*c);
    if (ok)
      n = g_ascii_strtoull (v, NULL, 10);
    ok = ok && n >= SNAPSHOT_MIN_WIDTH && n <= SNAPSHOT_MAX_WIDTH;
    if (ok)
      width = (guint)n;
    else
      reason = "width must be a whole number of pixels from " + std::to_string (SNAPSHOT_MIN_WIDTH)
               + " to " + std::to_string (SNAPSHOT_MAX_WIDTH);
  }
  g_hash_table_unref (params);
  return ok;
}

SnapshotResult
snapshot_decode_jpeg (GstSample *keyframe, guint width, gint64 timeout_us)
{
  ensure_debug ();
  GstCaps *caps = keyframe ? gst_sample_get_caps (keyframe) : NULL;
  GstBuffer *key = keyframe ? gst_sample_get_buffer (keyframe) : NULL;
  if (!caps || !key)
    return fail (UNAVAILABLE, "no keyframe yet");
  const GwCodecInfo *codec = gw_codec_from_caps (caps);
  if (!codec || !codec->video)
    return fail (NOT_IMPLEMENTED, "the path's stream is not video");
  if (!codec->decoder)
    return fail (NOT_IMPLEMENTED, std::string ("no decoder for ") + codec->name + " snapshots");

  std::string reason;
  GstElement *parser = codec->parser ? gw_codec_make_parser (codec) : NULL;
  if (codec->parser)
    need (parser, codec->parser, "gstreamer1.0-plugins-bad", reason);
  GstElement *dec
      = need (gw_codec_make_decoder (codec), codec->decoder, codec->decoder_package, reason);
  GstElement *src = need (gst_element_factory_make ("appsrc", NULL), "appsrc",
                          "gstreamer1.0-plugins-base", reason);
  GstElement *convert = need (gst_element_factory_make ("videoconvert", NULL), "videoconvert",
                              "gstreamer1.0-plugins-base", reason);
  GstElement *scale = need (gst_element_factory_make ("videoscale", NULL), "videoscale",
                            "gstreamer1.0-plugins-base", reason);
  GstElement *filter = need (gst_element_factory_make ("capsfilter", NULL), "capsfilter",
                             "gstreamer1.0 core", reason);
  GstElement *enc = need (gst_element_factory_make ("jpegenc", NULL), "jpegenc",
                          "gstreamer1.0-plugins-good", reason);
  GstElement *sink = need (gst_element_factory_make ("appsink", NULL), "appsink",
                           "gstreamer1.0-plugins-base", reason);
  GstElement *chain[] = { src, parser, dec, convert, scale, filter, enc, sink };
  if (!reason.empty ()) {
    for (GstElement *e : chain)
      if (e)
        gst_object_unref (gst_object_ref_sink (e));
    return fail (NOT_IMPLEMENTED, reason);
  }

  g_autoptr (GstElement) pipeline = gst_pipeline_new ("snapshot");
  GstElement *prev = NULL;
  bool linked = true;
  for (GstElement *e : chain) {
    if (!e)
      continue;
    gst_bin_add (GST_BIN (pipeline), e);
    if (prev)
      linked = linked && gst_element_link (prev, e);
    prev = e;
  }
  if (!linked)
    return fail (UNAVAILABLE, "cannot build the snapshot decoder");

  g_object_set (src, "caps", caps, "format", GST_FORMAT_TIME, "max-buffers", (guint64)2, NULL);
  g_autoptr (GstCaps) out = gst_caps_new_empty_simple ("video/x-raw");
  /* Square pixels: videoscale then picks the height that keeps the
   * picture's display aspect ratio (it would rather keep the height and
   * change the pixel aspect ratio, which JPEG viewers ignore). */
  if (width)
    gst_caps_set_simple (out, "width", G_TYPE_INT, (gint)width, "pixel-aspect-ratio",
                         GST_TYPE_FRACTION, 1, 1, NULL);
  g_object_set (filter, "caps", out, NULL);
  g_object_set (sink, "sync", FALSE, "max-buffers", 1u, NULL);

  SnapshotResult result;
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    result = fail (UNAVAILABLE, "cannot start the snapshot decoder");
  } else {
    /* One picture: the keyframe alone, at time 0, then the end. */
    GstBuffer *buf = gst_buffer_copy (key);
    GST_BUFFER_PTS (buf) = 0;
    GST_BUFFER_DTS (buf) = 0;
    GST_BUFFER_DURATION (buf) = GST_CLOCK_TIME_NONE;
    GST_BUFFER_FLAG_UNSET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
    gst_app_src_push_buffer (GST_APP_SRC (src), buf);
    gst_app_src_end_of_stream (GST_APP_SRC (src));

    g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
    const gint64 deadline = g_get_monotonic_time () + timeout_us;
    GstSample *jpeg = NULL;
    while (!jpeg && result.status == 0) {
      gint64 left = deadline - g_get_monotonic_time ();
      if (left <= 0) {
        result = fail (UNAVAILABLE, "decoding the keyframe took more than "
                                        + std::to_string (timeout_us / G_USEC_PER_SEC) + " s");
        break;
      }
      jpeg = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
                                           MIN (left, 50 * G_TIME_SPAN_MILLISECOND) * GST_USECOND);
      if (jpeg)
        break;
      if (g_autoptr (GstMessage) msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR)) {
        g_autoptr (GError) err = NULL;
        gst_message_parse_error (msg, &err, NULL);
        result = fail (UNAVAILABLE, std::string ("cannot decode the keyframe: ") + err->message);
      } else if (gst_app_sink_is_eos (GST_APP_SINK (sink))) {
        result = fail (UNAVAILABLE, "the keyframe decoded to no picture");
      }
    }
    if (jpeg) {
      GstBuffer *b = gst_sample_get_buffer (jpeg);
      GstMapInfo map;
      if (b && gst_buffer_map (b, &map, GST_MAP_READ)) {
        result.status = 200;
        result.jpeg.reset (g_bytes_new (map.data, map.size), g_bytes_unref);
        gst_buffer_unmap (b, &map);
      } else {
        result = fail (UNAVAILABLE, "the encoder gave no picture");
      }
      gst_sample_unref (jpeg);
    }
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  GST_DEBUG ("%s snapshot, width %u: %u %s", codec->name, width, result.status,
             result.reason.c_str ());
  return result;
}

/* ----------------------------------------------------------------- the cache */

Snapshots::Snapshots () : state_ (std::make_shared<State> ()) { ensure_debug (); }

Snapshots::~Snapshots () = default;

guint
Snapshots::n_decoding () const
{
  return (guint)state_->pending.size ();
}

void
Snapshots::get (const std::string &path, guint width, GstSample *keyframe, Done done)
{
  const gint64 now = g_get_monotonic_time ();
  for (auto it = state_->cache.begin (); it != state_->cache.end ();) {
    if (now - it->second.at >= SNAPSHOT_CACHE_US)
      it = state_->cache.erase (it);
    else
      ++it;
  }
  const Key key (path, width);
  auto cached = state_->cache.find (key);
  if (cached != state_->cache.end ()) {
    done (cached->second.result);
    return;
  }
  auto pending = state_->pending.find (key);
  if (pending != state_->pending.end ()) {
    pending->second.push_back (std::move (done));
    return;
  }
  if (!keyframe) {
    done (fail (UNAVAILABLE, "the path has no keyframe yet"));
    return;
  }
  if (state_->pending.size () >= SNAPSHOT_MAX_DECODING) {
    done (fail (UNAVAILABLE, "too many snapshots are being decoded; try again shortly"));
    return;
  }
  state_->pending[key].push_back (std::move (done));
  g_debug ("path %s: decoding a snapshot (width %u)", path.c_str (), width);

  std::weak_ptr<State> weak = state_;
  std::shared_ptr<GstSample> sample (gst_sample_ref (keyframe), gst_sample_unref);
  Worker::create ()->post ([weak, key, sample] () {
    SnapshotResult result
        = snapshot_decode_jpeg (sample.get (), key.second, SNAPSHOT_DECODE_TIMEOUT_US);
    run_on_main ([weak, key, result] () { finished (weak, key, result); });
  });
}

void
Snapshots::finished (const std::weak_ptr<State> &weak, const Key &key, const SnapshotResult &result)
{
  auto state = weak.lock ();
  if (!state)
    return;
  auto it = state->pending.find (key);
  if (it == state->pending.end ())
    return;
  if (result.status == 200)
    g_debug ("path %s: snapshot decoded (width %u, %zu bytes)", key.first.c_str (), key.second,
             g_bytes_get_size (result.jpeg.get ()));
  else
    g_info ("path %s: no snapshot (width %u): %u %s", key.first.c_str (), key.second, result.status,
            result.reason.c_str ());
  std::vector<Done> waiting = std::move (it->second);
  state->pending.erase (it);
  if (result.status == 200)
    state->cache[key] = Cached{ g_get_monotonic_time (), result };
  for (Done &d : waiting)
    d (result);
}

} // namespace gw
