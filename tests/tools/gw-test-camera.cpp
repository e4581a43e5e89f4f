/* gw-test-camera: a real RTSP camera for tests.
 *
 * Serves one shared media (one encoder for all clients) made of a live test
 * pattern encoded with x264 (no B-frames, SPS/PPS with every keyframe), or
 * with --codec h265 with x265 (no B-frames, VPS/SPS/PPS with every
 * keyframe), and, optionally, Opus or PCMU audio.
 *
 * Protocol with the test, on stdout (one line each, flushed):
 *   READY rtsp://ADDR:PORT/PATH     the server listens
 *   SESSION-NEW <n-active>          an RTSP session was created
 *   SESSION-END <n-active>          an RTSP session was removed
 *   STOPPED                         clean shutdown after SIGTERM/SIGINT
 *   FAULT-BEGIN <mode>              a --fault began
 *   FAULT-END <mode> <n>            it ended; n = RTP packets it altered
 *                                   (or dropped, for mute)
 *   SILENT-END                      --silent-accept is over: RTSP answers
 * Diagnostics go to stderr.
 *
 * Faults (for the reliability tests), all acting on the video RTP packets
 * after the camera's own RTP session, so what they make reaches the wire:
 *   --fault garbage   every third packet is mangled in turn: RTP version 0,
 *                     a header cut to 7 bytes, random payload bytes, an
 *                     unknown payload type, a FU-A of random NAL bytes, an
 *                     empty payload
 *   --fault bad-sps   SPS NAL units cut to 4 bytes, PPS to their NAL header
 *   --fault mute      no video RTP at all (the RTSP session carries on)
 *   --fault resize    the picture becomes --resize WxH (new caps, new SPS);
 *                     permanent
 * A fault starts on SIGUSR1, or when the media is ready with --fault-now,
 * and lasts --fault-seconds. --silent-accept N: for the first N seconds the
 * port accepts TCP connections and never answers (a hung camera).
 */

#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <glib-unix.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

struct Options
{
  gchar *address = nullptr;
  gint port = 8554;
  gchar *path = nullptr;
  gint width = 320;
  gint height = 240;
  gint fps = 15;
  gint gop = 15;
  gint slices = 1;
  gchar *audio = nullptr;
  gchar *codec = nullptr;
  gchar *profile = nullptr;
  gchar *user = nullptr;
  gchar *password = nullptr;
  gchar *transport = nullptr;
  gchar *pattern = nullptr;
  gchar *fault = nullptr;
  gint fault_seconds = 5;
  gboolean fault_now = FALSE;
  gchar *resize = nullptr;
  gint silent_accept = 0;

  ~Options ()
  {
    g_free (address);
    g_free (path);
    g_free (audio);
    g_free (codec);
    g_free (profile);
    g_free (user);
    g_free (password);
    g_free (transport);
    g_free (pattern);
    g_free (fault);
    g_free (resize);
  }
};

enum class Fault
{
  NONE,
  GARBAGE,
  BAD_SPS,
  MUTE,
  RESIZE
};

/* Everything the callbacks touch lives on the default main context, so no
 * lock is needed: the RTSP server, its clients and the session pool watch are
 * all attached to it. */
struct Camera
{
  GMainLoop *loop = nullptr;
  GstRTSPSessionPool *pool = nullptr;
  GstRTSPServer *server = nullptr;
  const Options *opts = nullptr;

  Fault fault = Fault::NONE;
  gint resize_w = 0, resize_h = 0;
  /* Read by the streaming threads' probes. */
  std::atomic<bool> fault_on{ false };
  std::atomic<guint> fault_hits{ 0 };
  std::atomic<guint> packet_no{ 0 };
  guint fault_timer = 0;
  bool resized = false;
  /* The capsfilter of the current media (a weak pointer). */
  GstElement *size_filter = nullptr;

  /* --silent-accept */
  GSocketListener *silent = nullptr;
  GList *silent_conns = nullptr;
  guint server_watch = 0;
  std::atomic<bool> fault_started{ false };
};

const char *
fault_name (Fault f)
{
  switch (f) {
  case Fault::GARBAGE:
    return "garbage";
  case Fault::BAD_SPS:
    return "bad-sps";
  case Fault::MUTE:
    return "mute";
  case Fault::RESIZE:
    return "resize";
  default:
    return "none";
  }
}

void
print_line (const std::string &line)
{
  fputs (line.c_str (), stdout);
  fputc ('\n', stdout);
  fflush (stdout);
}

void
on_session_removed (GstRTSPSessionPool *pool, GstRTSPSession *session, gpointer user_data)
{
  print_line ("SESSION-END " + std::to_string (gst_rtsp_session_pool_get_n_sessions (pool)));
}

void
on_new_session (GstRTSPClient *client, GstRTSPSession *session, gpointer user_data)
{
  auto *cam = static_cast<Camera *> (user_data);
  print_line ("SESSION-NEW " + std::to_string (gst_rtsp_session_pool_get_n_sessions (cam->pool)));
}

void
on_client_connected (GstRTSPServer *server, GstRTSPClient *client, gpointer user_data)
{
  g_signal_connect (client, "new-session", G_CALLBACK (on_new_session), user_data);
}

gboolean
on_quit_signal (gpointer user_data)
{
  auto *cam = static_cast<Camera *> (user_data);
  g_main_loop_quit (cam->loop);
  return G_SOURCE_CONTINUE;
}

gboolean
on_pool_cleanup (GstRTSPSessionPool *pool, gpointer user_data)
{
  gst_rtsp_session_pool_cleanup (pool);
  return G_SOURCE_CONTINUE;
}

/* ---- faults -------------------------------------------------------------- */

void begin_fault (Camera *cam);

/* Offset of the RTP payload in @data, or 0 if it is no RTP packet. */
gsize
rtp_payload_offset (const guint8 *data, gsize size)
{
  if (size < 12 || (data[0] >> 6) != 2)
    return 0;
  gsize off = 12 + 4 * (data[0] & 0x0f);
  if ((data[0] & 0x10) && size >= off + 4)
    off += 4 + 4 * ((data[off + 2] << 8) | data[off + 3]);
  return off < size ? off : 0;
}

void
fill_random (guint8 *p, gsize n)
{
  for (gsize i = 0; i < n; i++)
    p[i] = g_random_int_range (0, 256);
}

/* Returns a mangled copy of @in (or nullptr to keep it). */
GstBuffer *
mangle_garbage (Camera *cam, GstBuffer *in)
{
  guint n = cam->packet_no.fetch_add (1);
  if (n % 3 != 0)
    return nullptr;
  GstMapInfo map;
  if (!gst_buffer_map (in, &map, GST_MAP_READ))
    return nullptr;
  gsize off = rtp_payload_offset (map.data, map.size);
  std::string pkt (reinterpret_cast<const char *> (map.data), map.size);
  gst_buffer_unmap (in, &map);
  if (off == 0)
    return nullptr;
  auto *d = reinterpret_cast<guint8 *> (&pkt[0]);
  switch ((n / 3) % 6) {
  case 0: /* RTP version 0 */
    d[0] &= 0x3f;
    break;
  case 1: /* a header cut short */
    pkt.resize (7);
    break;
  case 2: /* random payload bytes */
    fill_random (d + off, pkt.size () - off);
    break;
  case 3: /* an unknown payload type */
    d[1] = (d[1] & 0x80) | 111;
    break;
  case 4: /* a FU-A start of a random NAL unit */
    fill_random (d + off, pkt.size () - off);
    if (pkt.size () > off + 2) {
      d[off] = 0x7c; /* F=0 NRI=3 type 28 */
      d[off + 1] = 0x80 | (d[off + 1] & 0x1f);
    }
    break;
  default: /* a header and no payload */
    pkt.resize (off);
    break;
  }
  cam->fault_hits++;
  GstBuffer *out = gst_buffer_new_memdup (pkt.data (), pkt.size ());
  gst_buffer_copy_into (out, in, GST_BUFFER_COPY_METADATA, 0, -1);
  return out;
}

/* SPS cut to 4 bytes, PPS to its NAL header (single NAL unit packets; the
 * camera's payloader does not aggregate). */
GstBuffer *
mangle_bad_sps (Camera *cam, GstBuffer *in)
{
  GstMapInfo map;
  if (!gst_buffer_map (in, &map, GST_MAP_READ))
    return nullptr;
  gsize off = rtp_payload_offset (map.data, map.size);
  guint type = off ? map.data[off] & 0x1f : 0;
  gsize keep = 0;
  if (type == 7 && map.size > off + 4)
    keep = off + 4;
  else if (type == 8 && map.size > off + 1)
    keep = off + 1;
  GstBuffer *out = nullptr;
  if (keep) {
    out = gst_buffer_new_memdup (map.data, keep);
    gst_buffer_copy_into (out, in, GST_BUFFER_COPY_METADATA, 0, -1);
    cam->fault_hits++;
  }
  gst_buffer_unmap (in, &map);
  return out;
}

GstBuffer *
mangle (Camera *cam, GstBuffer *in)
{
  return cam->fault == Fault::GARBAGE ? mangle_garbage (cam, in) : mangle_bad_sps (cam, in);
}

GstPadProbeReturn
on_rtp_out (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  auto *cam = static_cast<Camera *> (user_data);
  if (!cam->fault_on.load ())
    return GST_PAD_PROBE_OK;
  if (cam->fault == Fault::MUTE) {
    cam->fault_hits++;
    return GST_PAD_PROBE_DROP;
  }
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *out = mangle (cam, GST_PAD_PROBE_INFO_BUFFER (info));
    if (out) {
      gst_buffer_unref (GST_PAD_PROBE_INFO_BUFFER (info));
      GST_PAD_PROBE_INFO_DATA (info) = out;
    }
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST (info);
    list = gst_buffer_list_make_writable (list);
    for (guint i = 0; i < gst_buffer_list_length (list); i++) {
      GstBuffer *out = mangle (cam, gst_buffer_list_get (list, i));
      if (out) {
        gst_buffer_list_remove (list, i, 1);
        gst_buffer_list_insert (list, i, out);
      }
    }
    GST_PAD_PROBE_INFO_DATA (info) = list;
  }
  return GST_PAD_PROBE_OK;
}

/* The video RTP leaves the media through rtpbin's send_rtp_src_0: our
 * probe sits there, after the RTP session (which would drop malformed
 * packets) and before the UDP and TCP senders. */
void
on_media_prepared (GstRTSPMedia *media, gpointer user_data)
{
  auto *cam = static_cast<Camera *> (user_data);
  if (cam->opts->fault_now && !cam->fault_started.exchange (true))
    g_idle_add (
        [] (gpointer data) -> gboolean {
          begin_fault (static_cast<Camera *> (data));
          return G_SOURCE_REMOVE;
        },
        cam);
  GstElement *element = gst_rtsp_media_get_element (media);
  GstObject *pipeline = gst_object_get_parent (GST_OBJECT (element));
  gst_object_unref (element);
  if (!pipeline)
    return;
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (pipeline));
  GValue v = G_VALUE_INIT;
  while (gst_iterator_next (it, &v) == GST_ITERATOR_OK) {
    auto *e = GST_ELEMENT (g_value_get_object (&v));
    GstElementFactory *f = gst_element_get_factory (e);
    if (f && g_str_equal (GST_OBJECT_NAME (f), "rtpbin")) {
      GstPad *pad = gst_element_get_static_pad (e, "send_rtp_src_0");
      if (pad) {
        gst_pad_add_probe (pad,
                           static_cast<GstPadProbeType> (GST_PAD_PROBE_TYPE_BUFFER
                                                         | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                           on_rtp_out, cam, nullptr);
        gst_object_unref (pad);
      }
    }
    g_value_reset (&v);
  }
  g_value_unset (&v);
  gst_iterator_free (it);
  gst_object_unref (pipeline);
}

GstCaps *
size_caps (const Options &o, gint w, gint h)
{
  return gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, "I420", "width", G_TYPE_INT,
                              w, "height", G_TYPE_INT, h, "framerate", GST_TYPE_FRACTION, o.fps, 1,
                              nullptr);
}

void
apply_size (Camera *cam)
{
  if (!cam->size_filter || !cam->resized)
    return;
  GstCaps *caps = size_caps (*cam->opts, cam->resize_w, cam->resize_h);
  g_object_set (cam->size_filter, "caps", caps, nullptr);
  gst_caps_unref (caps);
}

void
on_media_configure (GstRTSPMediaFactory *factory, GstRTSPMedia *media, gpointer user_data)
{
  auto *cam = static_cast<Camera *> (user_data);
  if (cam->fault == Fault::RESIZE) {
    GstElement *element = gst_rtsp_media_get_element (media);
    if (cam->size_filter)
      g_object_remove_weak_pointer (G_OBJECT (cam->size_filter),
                                    reinterpret_cast<gpointer *> (&cam->size_filter));
    cam->size_filter = gst_bin_get_by_name (GST_BIN (element), "size");
    if (cam->size_filter) {
      g_object_add_weak_pointer (G_OBJECT (cam->size_filter),
                                 reinterpret_cast<gpointer *> (&cam->size_filter));
      gst_object_unref (cam->size_filter); /* the media holds it */
    }
    gst_object_unref (element);
    apply_size (cam);
  } else if (cam->fault != Fault::NONE) {
    g_signal_connect (media, "prepared", G_CALLBACK (on_media_prepared), cam);
  }
}

gboolean
on_fault_end (gpointer user_data)
{
  auto *cam = static_cast<Camera *> (user_data);
  cam->fault_timer = 0;
  cam->fault_on = false;
  print_line (std::string ("FAULT-END ") + fault_name (cam->fault) + " "
              + std::to_string (cam->fault_hits.load ()));
  return G_SOURCE_REMOVE;
}

void
begin_fault (Camera *cam)
{
  if (cam->fault == Fault::NONE || cam->fault_on.load ())
    return;
  print_line (std::string ("FAULT-BEGIN ") + fault_name (cam->fault));
  if (cam->fault == Fault::RESIZE) {
    cam->resized = true;
    apply_size (cam);
    return;
  }
  cam->fault_hits = 0;
  cam->fault_on = true;
  cam->fault_timer = g_timeout_add (cam->opts->fault_seconds * 1000, on_fault_end, cam);
}

gboolean
on_fault_signal (gpointer user_data)
{
  begin_fault (static_cast<Camera *> (user_data));
  return G_SOURCE_CONTINUE;
}

/* ---- --silent-accept ----------------------------------------------------- */

void
on_silent_accept (GObject *source, GAsyncResult *res, gpointer user_data)
{
  auto *cam = static_cast<Camera *> (user_data);
  GSocketConnection *conn
      = g_socket_listener_accept_finish (G_SOCKET_LISTENER (source), res, nullptr, nullptr);
  if (!conn)
    return; /* closed */
  g_printerr ("gw-test-camera: silent: accepted a connection\n");
  cam->silent_conns = g_list_prepend (cam->silent_conns, conn);
  g_socket_listener_accept_async (G_SOCKET_LISTENER (source), nullptr, on_silent_accept, cam);
}

bool
attach_server (Camera *cam)
{
  cam->server_watch = gst_rtsp_server_attach (cam->server, nullptr);
  return cam->server_watch != 0;
}

void
close_silent (Camera *cam)
{
  if (!cam->silent)
    return;
  g_socket_listener_close (cam->silent);
  g_clear_object (&cam->silent);
  for (GList *l = cam->silent_conns; l; l = l->next)
    g_io_stream_close (G_IO_STREAM (l->data), nullptr, nullptr);
  g_list_free_full (cam->silent_conns, g_object_unref);
  cam->silent_conns = nullptr;
}

gboolean
on_silent_end (gpointer user_data)
{
  auto *cam = static_cast<Camera *> (user_data);
  close_silent (cam);
  if (!attach_server (cam)) {
    g_printerr ("gw-test-camera: cannot listen after --silent-accept\n");
    g_main_loop_quit (cam->loop);
  } else {
    print_line ("SILENT-END");
  }
  return G_SOURCE_REMOVE;
}

bool
parse_transport (const gchar *spec, GstRTSPLowerTrans *out, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (spec, ",", -1);
  guint flags = 0;
  for (guint i = 0; parts[i]; i++) {
    g_autofree gchar *p = g_strstrip (g_ascii_strdown (parts[i], -1));
    if (g_str_equal (p, "udp"))
      flags |= GST_RTSP_LOWER_TRANS_UDP;
    else if (g_str_equal (p, "udp-mcast"))
      flags |= GST_RTSP_LOWER_TRANS_UDP_MCAST;
    else if (g_str_equal (p, "tcp"))
      flags |= GST_RTSP_LOWER_TRANS_TCP;
    else if (*p != '\0') {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--transport: unknown transport '%s' (udp, udp-mcast, tcp)", p);
      return false;
    }
  }
  if (flags == 0) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--transport: no transport given");
    return false;
  }
  *out = static_cast<GstRTSPLowerTrans> (flags);
  return true;
}

bool
build_launch (const Options &o, std::string *out, GError **error)
{
  if (o.width <= 0 || o.height <= 0 || o.fps <= 0 || o.gop <= 0 || o.slices <= 0 || o.slices > 16) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--width, --height, --fps and --gop must be positive, --slices 1..16");
    return false;
  }

  const bool h265 = g_str_equal (o.codec, "h265");
  std::string profile_caps;
  if (!g_str_equal (o.profile, "any"))
    profile_caps
        = std::string (h265 ? " ! video/x-h265,profile=" : " ! video/x-h264,profile=") + o.profile;
  /* tune=zerolatency turns on sliced threads in x264 (one slice per
   * thread), and turns B-frames off in both encoders. */
  std::string encoder
      = h265 ? " ! x265enc tune=zerolatency speed-preset=ultrafast key-int-max="
                   + std::to_string (o.gop) + profile_caps
                   + " ! rtph265pay name=pay0 pt=96 config-interval=-1"
             : " ! x264enc tune=zerolatency speed-preset=ultrafast bframes=0 threads="
                   + std::to_string (o.slices) + " key-int-max=" + std::to_string (o.gop)
                   + profile_caps + " ! rtph264pay name=pay0 pt=96 config-interval=-1";

  /* The capsfilter is named: --fault resize changes its caps. */
  std::string video = std::string ("videotestsrc is-live=true pattern=") + o.pattern
                      + " ! capsfilter name=size caps=\"video/x-raw,format=I420,"
                        "width="
                      + std::to_string (o.width) + ",height=" + std::to_string (o.height)
                      + ",framerate=" + std::to_string (o.fps) + "/1\"" + encoder;

  std::string audio;
  if (g_str_equal (o.audio, "opus")) {
    audio = " audiotestsrc is-live=true wave=sine freq=440 volume=0.1"
            " ! audioconvert ! audioresample"
            " ! audio/x-raw,rate=48000,channels=2"
            " ! opusenc ! rtpopuspay name=pay1 pt=97";
  } else if (g_str_equal (o.audio, "pcmu")) {
    audio = " audiotestsrc is-live=true wave=sine freq=440 volume=0.1"
            " ! audioconvert ! audioresample"
            " ! audio/x-raw,rate=8000,channels=1"
            " ! mulawenc ! rtppcmupay name=pay1 pt=0";
  } else if (!g_str_equal (o.audio, "none")) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "--audio: expected opus, pcmu or none, got '%s'", o.audio);
    return false;
  }

  *out = "( " + video + audio + " )";
  return true;
}

} // namespace

int
main (int argc, char **argv)
{
  Options o;
  gboolean show_launch = FALSE;
  GOptionEntry entries[]
      = { { "address", 0, 0, G_OPTION_ARG_STRING, &o.address,
            "Address to listen on (default 127.0.0.1)", "ADDR" },
          { "port", 0, 0, G_OPTION_ARG_INT, &o.port,
            "Port to listen on (default 8554; 0 = any, the chosen one is printed)", "PORT" },
          { "path", 0, 0, G_OPTION_ARG_STRING, &o.path, "Mount path (default /stream)", "PATH" },
          { "width", 0, 0, G_OPTION_ARG_INT, &o.width, "Width (default 320)", "W" },
          { "height", 0, 0, G_OPTION_ARG_INT, &o.height, "Height (default 240)", "H" },
          { "fps", 0, 0, G_OPTION_ARG_INT, &o.fps, "Frame rate (default 15)", "N" },
          { "gop", 0, 0, G_OPTION_ARG_INT, &o.gop,
            "Frames between keyframes, x264 key-int-max (default 15)", "N" },
          { "slices", 0, 0, G_OPTION_ARG_INT, &o.slices,
            "Slices per picture (default 1). With more, rtph264pay's"
            " config-interval=-1 repeats SPS/PPS before every IDR slice, as some"
            " cameras do",
            "N" },
          { "codec", 0, 0, G_OPTION_ARG_STRING, &o.codec, "Video codec: h264 (default) or h265",
            "CODEC" },
          { "profile", 0, 0, G_OPTION_ARG_STRING, &o.profile,
            "H.264 profile: constrained-baseline (default), baseline, main, high,"
            " or any (x264's own choice); H.265: main (default), main-10 or any",
            "PROFILE" },
          { "pattern", 0, 0, G_OPTION_ARG_STRING, &o.pattern, "videotestsrc pattern (default ball)",
            "PATTERN" },
          { "audio", 0, 0, G_OPTION_ARG_STRING, &o.audio, "Audio: opus (default), pcmu or none",
            "CODEC" },
          { "user", 0, 0, G_OPTION_ARG_STRING, &o.user, "Require basic auth with this user",
            "USER" },
          { "password", 0, 0, G_OPTION_ARG_STRING, &o.password, "Password for --user", "PASSWORD" },
          { "transport", 0, 0, G_OPTION_ARG_STRING, &o.transport,
            "Allowed lower transports, comma separated (default udp,tcp)", "LIST" },
          { "fault", 0, 0, G_OPTION_ARG_STRING, &o.fault,
            "A fault to play: garbage, bad-sps, mute or resize (see the top of"
            " the source), on SIGUSR1",
            "MODE" },
          { "fault-seconds", 0, 0, G_OPTION_ARG_INT, &o.fault_seconds,
            "How long a fault lasts (default 5)", "N" },
          { "fault-now", 0, 0, G_OPTION_ARG_NONE, &o.fault_now,
            "Start the fault when the first media is ready, not on SIGUSR1", nullptr },
          { "resize", 0, 0, G_OPTION_ARG_STRING, &o.resize,
            "The new picture size of --fault resize (default 640x360)", "WxH" },
          { "silent-accept", 0, 0, G_OPTION_ARG_INT, &o.silent_accept,
            "For the first N seconds accept TCP connections and answer nothing", "N" },
          { "print-launch", 0, 0, G_OPTION_ARG_NONE, &show_launch,
            "Print the media launch line on stderr", nullptr },
          { nullptr } };

  g_autoptr (GOptionContext) ctx = g_option_context_new ("- RTSP test camera");
  g_option_context_add_main_entries (ctx, entries, nullptr);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  g_autoptr (GError) err = nullptr;
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("gw-test-camera: %s\n", err->message);
    return 2;
  }

  if (!o.address)
    o.address = g_strdup ("127.0.0.1");
  if (!o.path)
    o.path = g_strdup ("/stream");
  if (!o.audio)
    o.audio = g_strdup ("opus");
  if (!o.codec)
    o.codec = g_strdup ("h264");
  if (!g_str_equal (o.codec, "h264") && !g_str_equal (o.codec, "h265")) {
    g_printerr ("gw-test-camera: --codec: expected h264 or h265, got '%s'\n", o.codec);
    return 2;
  }
  if (!o.profile)
    o.profile = g_strdup (g_str_equal (o.codec, "h265") ? "main" : "constrained-baseline");
  if (!o.transport)
    o.transport = g_strdup ("udp,tcp");
  if (!o.pattern)
    o.pattern = g_strdup ("ball");
  if (o.path[0] != '/') {
    gchar *p = g_strconcat ("/", o.path, nullptr);
    g_free (o.path);
    o.path = p;
  }
  if (o.port < 0 || o.port > 65535) {
    g_printerr ("gw-test-camera: --port out of range\n");
    return 2;
  }
  if ((o.user == nullptr) != (o.password == nullptr)) {
    g_printerr ("gw-test-camera: --user and --password go together\n");
    return 2;
  }

  Camera cam;
  cam.opts = &o;
  if (o.fault) {
    for (Fault f : { Fault::GARBAGE, Fault::BAD_SPS, Fault::MUTE, Fault::RESIZE })
      if (g_str_equal (o.fault, fault_name (f)))
        cam.fault = f;
    if (cam.fault == Fault::NONE) {
      g_printerr ("gw-test-camera: --fault: expected garbage, bad-sps, mute"
                  " or resize, got '%s'\n",
                  o.fault);
      return 2;
    }
  }
  /* Those two write H.264 NAL units. */
  if ((cam.fault == Fault::GARBAGE || cam.fault == Fault::BAD_SPS)
      && !g_str_equal (o.codec, "h264")) {
    g_printerr ("gw-test-camera: --fault %s needs --codec h264\n", o.fault);
    return 2;
  }
  if (o.fault_seconds <= 0 || o.silent_accept < 0) {
    g_printerr ("gw-test-camera: --fault-seconds must be positive,"
                " --silent-accept not negative\n");
    return 2;
  }
  if (cam.fault == Fault::RESIZE) {
    const gchar *spec = o.resize ? o.resize : "640x360";
    if (sscanf (spec, "%dx%d", &cam.resize_w, &cam.resize_h) != 2 || cam.resize_w <= 0
        || cam.resize_h <= 0 || cam.resize_w > 4096 || cam.resize_h > 4096) {
      g_printerr ("gw-test-camera: --resize: expected WxH, got '%s'\n", spec);
      return 2;
    }
  } else if (o.resize) {
    g_printerr ("gw-test-camera: --resize goes with --fault resize\n");
    return 2;
  }

  GstRTSPLowerTrans protocols;
  std::string launch;
  if (!parse_transport (o.transport, &protocols, &err) || !build_launch (o, &launch, &err)) {
    g_printerr ("gw-test-camera: %s\n", err->message);
    return 2;
  }
  if (show_launch)
    g_printerr ("gw-test-camera: launch %s\n", launch.c_str ());

  cam.loop = g_main_loop_new (nullptr, FALSE);

  GstRTSPServer *server = gst_rtsp_server_new ();
  gst_rtsp_server_set_address (server, o.address);
  g_autofree gchar *service = g_strdup_printf ("%d", o.port);
  gst_rtsp_server_set_service (server, service);

  cam.pool = gst_rtsp_server_get_session_pool (server);
  g_signal_connect (cam.pool, "session-removed", G_CALLBACK (on_session_removed), &cam);
  g_signal_connect (server, "client-connected", G_CALLBACK (on_client_connected), &cam);

  GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new ();
  gst_rtsp_media_factory_set_launch (factory, launch.c_str ());
  gst_rtsp_media_factory_set_shared (factory, TRUE);
  gst_rtsp_media_factory_set_protocols (factory, protocols);
  g_signal_connect (factory, "media-configure", G_CALLBACK (on_media_configure), &cam);

  if (o.user) {
    GstRTSPAuth *auth = gst_rtsp_auth_new ();
    g_autoptr (GstRTSPToken) token
        = gst_rtsp_token_new (GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING, "user", nullptr);
    g_autofree gchar *basic = gst_rtsp_auth_make_basic (o.user, o.password);
    gst_rtsp_auth_add_basic (auth, basic, token);
    gst_rtsp_server_set_auth (server, auth);
    g_object_unref (auth);
    gst_rtsp_media_factory_add_role (factory, "user", GST_RTSP_PERM_MEDIA_FACTORY_ACCESS,
                                     G_TYPE_BOOLEAN, TRUE, GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT,
                                     G_TYPE_BOOLEAN, TRUE, nullptr);
  }

  GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points (server);
  gst_rtsp_mount_points_add_factory (mounts, o.path, factory);
  g_object_unref (mounts);

  cam.server = server;
  int bound = o.port;
  if (o.silent_accept > 0) {
    /* A hung camera first: the port accepts and never answers. */
    cam.silent = g_socket_listener_new ();
    g_autoptr (GSocketAddress) addr = g_inet_socket_address_new_from_string (o.address, o.port);
    g_autoptr (GSocketAddress) effective = nullptr;
    if (!addr
        || !g_socket_listener_add_address (cam.silent, addr, G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_TCP, nullptr, &effective, &err)) {
      g_printerr ("gw-test-camera: cannot listen on %s:%d: %s\n", o.address, o.port,
                  err ? err->message : "bad address");
      return 1;
    }
    bound = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
    g_socket_listener_accept_async (cam.silent, nullptr, on_silent_accept, &cam);
    g_autofree gchar *service_now = g_strdup_printf ("%d", bound);
    gst_rtsp_server_set_service (server, service_now);
    g_timeout_add_seconds (o.silent_accept, on_silent_end, &cam);
  } else if (!attach_server (&cam)) {
    g_printerr ("gw-test-camera: cannot listen on %s:%d\n", o.address, o.port);
    g_object_unref (cam.pool);
    g_object_unref (server);
    g_main_loop_unref (cam.loop);
    return 1;
  } else {
    bound = gst_rtsp_server_get_bound_port (server);
  }
  if (cam.fault == Fault::RESIZE && o.fault_now)
    begin_fault (&cam);
  guint sigusr1 = g_unix_signal_add (SIGUSR1, on_fault_signal, &cam);

  /* Sessions whose client vanished without TEARDOWN time out through this
   * watch, so SESSION-END is printed for them too. */
  GSource *pool_watch = gst_rtsp_session_pool_create_watch (cam.pool);
  g_source_set_callback (pool_watch, G_SOURCE_FUNC (on_pool_cleanup), nullptr, nullptr);
  g_source_attach (pool_watch, nullptr);

  guint sigterm = g_unix_signal_add (SIGTERM, on_quit_signal, &cam);
  guint sigint = g_unix_signal_add (SIGINT, on_quit_signal, &cam);

  g_autofree gchar *ready = g_strdup_printf ("READY rtsp://%s:%d%s", o.address, bound, o.path);
  print_line (ready);

  g_main_loop_run (cam.loop);

  g_source_remove (sigterm);
  g_source_remove (sigint);
  g_source_remove (sigusr1);
  if (cam.fault_timer)
    g_source_remove (cam.fault_timer);
  g_source_destroy (pool_watch);
  g_source_unref (pool_watch);
  if (cam.server_watch)
    g_source_remove (cam.server_watch);
  close_silent (&cam);
  if (cam.size_filter)
    g_object_remove_weak_pointer (G_OBJECT (cam.size_filter),
                                  reinterpret_cast<gpointer *> (&cam.size_filter));

  /* Close every client and its media so encoders stop before we exit. */
  gst_rtsp_server_client_filter (
      server,
      [] (GstRTSPServer *, GstRTSPClient *client, gpointer) {
        gst_rtsp_client_close (client);
        return GST_RTSP_FILTER_REMOVE;
      },
      nullptr);
  /* Let the closes run (bounded). */
  for (int i = 0; i < 100 && g_main_context_pending (nullptr); i++)
    g_main_context_iteration (nullptr, FALSE);
  /* Sessions still alive (UDP clients keep theirs after the connection
   * closes) end now: SESSION-END for each, then their media stop. */
  gst_rtsp_session_pool_filter (
      cam.pool,
      [] (GstRTSPSessionPool *, GstRTSPSession *, gpointer) { return GST_RTSP_FILTER_REMOVE; },
      nullptr);
  for (int i = 0; i < 100 && g_main_context_pending (nullptr); i++)
    g_main_context_iteration (nullptr, FALSE);

  g_signal_handlers_disconnect_by_data (cam.pool, &cam);
  g_object_unref (cam.pool);
  g_object_unref (server);
  g_main_loop_unref (cam.loop);
  print_line ("STOPPED");
  return 0;
}
