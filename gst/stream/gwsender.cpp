/* GwSender: see gwsender.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwsender.h"
#include "gwh264.h"
#include "gwkeyframegate.h"

#include <gst/codecparsers/gsth264parser.h>

#include <errno.h>
#include <netinet/in.h>
#include <srtp2/srtp.h>
#include <string.h>
#include <sys/socket.h>

#include <vector>

GST_DEBUG_CATEGORY_STATIC (gw_sender_debug);
#define GST_CAT_DEFAULT gw_sender_debug

namespace {

/* Largest RTP packet (header included), as our payloaders are set up. */
constexpr gsize MTU = 1200;
constexpr gsize RTP_HEADER = 12;
/* Room after a packet for the SRTP authentication tag. */
constexpr gsize TAG_ROOM = 16;
constexpr gsize SLOT = MTU + TAG_ROOM;
/* Packets per sendmmsg(). */
constexpr guint BATCH = 64;

enum class Codec
{
  NONE,
  H264,
  OPUS,
  PCMU,
  PCMA,
};

/* One packet of the stream, its RTP header left for each viewer to fill. */
struct Packet
{
  gsize offset; /* in the packet arena: RTP_HEADER bytes, then the payload */
  gsize size;   /* header included */
  gboolean marker;
};

struct Viewer
{
  guint id;
  guint32 ssrc;
  guint8 pt;
  guint16 seq;
  guint32 ts_offset;
  srtp_t srtp;
  int fd;
  struct sockaddr_storage remote;
  socklen_t remote_len;
  gboolean started;
  guint64 sent, dropped;
};

} // namespace

struct _GwSender
{
  gint refs;

  GMutex lock;
  /* Protected by the lock. */
  std::vector<Viewer> viewers;
  guint next_id;

  /* Streaming thread only (under the lock too, as gw_sender_add reads codec). */
  Codec codec;
  guint clock_rate;
  std::vector<guint8> sps, pps; /* last valid parameter sets, NAL without start code */
  GstH264NalParser *parser;     /* checks them */
  /* The access units since the last keyframe (video), given to a viewer
   * that starts mid-GOP. */
  GwGop gop;
  GwNals nals; /* scratch: the NAL units of the live access unit */
  /* Scratch: this buffer's packets, and one viewer's batch. */
  std::vector<guint8> arena;
  std::vector<Packet> packets;
  guint8 *slots;
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
};

static void
clear_gop (GwSender *s)
{
  gw_gop_clear (&s->gop);
}

/* ------------------------------------------------------------ packetizing */

static void
add_packet (GwSender *s, const guint8 *a, gsize alen, const guint8 *b, gsize blen)
{
  Packet p;
  p.offset = s->arena.size ();
  p.size = RTP_HEADER + alen + blen;
  p.marker = FALSE;
  s->arena.resize (p.offset + p.size);
  guint8 *d = s->arena.data () + p.offset + RTP_HEADER;
  if (alen)
    memcpy (d, a, alen);
  if (blen)
    memcpy (d + alen, b, blen);
  s->packets.push_back (p);
}

/* One NAL unit (no start code): a single-NAL packet, or FU-A fragments. */
static void
packetize_nal (GwSender *s, const guint8 *nal, gsize len)
{
  const gsize room = MTU - RTP_HEADER;
  if (len == 0)
    return;
  if (len <= room) {
    add_packet (s, nal, len, NULL, 0);
    return;
  }
  guint8 fu[2];
  fu[0] = (nal[0] & 0xe0) | 28;
  const guint8 type = nal[0] & 0x1f;
  gsize off = 1;
  while (off < len) {
    gsize chunk = MIN (room - 2, len - off);
    fu[1] = type | (off == 1 ? 0x80 : 0) | (off + chunk == len ? 0x40 : 0);
    add_packet (s, fu, 2, nal + off, chunk);
    off += chunk;
  }
}

/* Whether an access unit holds an IDR slice. */
static gboolean
h264_is_key (GstBuffer *buf)
{
  return !GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
}

/* Fills s->packets/arena with @buf's packets; FALSE if it has none. @nals
 * are its NAL units if already known (H.264), else NULL. */
static gboolean
packetize (GwSender *s, GstBuffer *buf, const GwNals *nals)
{
  s->arena.clear ();
  s->packets.clear ();
  GstMapInfo map;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return FALSE;

  if (s->codec == Codec::H264) {
    GwNals own;
    if (!nals) {
      gw_h264_split_nals (map.data, map.size, own);
      nals = &own;
    }
    gboolean has_sps = FALSE, has_idr = FALSE;
    for (auto &n : *nals) {
      guint8 type = map.data[n.first] & 0x1f;
      has_sps |= type == 7;
      has_idr |= type == 5;
    }
    /* A keyframe without its parameter sets gets the last ones. */
    if (has_idr && !has_sps && !s->sps.empty () && !s->pps.empty ()) {
      packetize_nal (s, s->sps.data (), s->sps.size ());
      packetize_nal (s, s->pps.data (), s->pps.size ());
    }
    for (auto &n : *nals) {
      guint8 type = map.data[n.first] & 0x1f;
      if (type == 9)
        continue; /* access unit delimiter: the marker bit says it */
      if (type == 0 || type >= 24)
        continue; /* unspecified in H.264, and RTP aggregation or fragment
                   * types: a receiver would take it for RTP framing */
      packetize_nal (s, map.data + n.first, n.second);
    }
  } else if (map.size > 0 && map.size <= MTU - RTP_HEADER) {
    add_packet (s, map.data, map.size, NULL, 0);
  } else if (map.size > 0) {
    GST_WARNING ("audio frame of %" G_GSIZE_FORMAT " bytes is over the MTU: dropped", map.size);
  }
  gst_buffer_unmap (buf, &map);
  if (s->packets.empty ())
    return FALSE;
  if (s->codec == Codec::H264)
    s->packets.back ().marker = TRUE;
  return TRUE;
}

/* ------------------------------------------------------------ sending */

/* Sends the packets in s->packets to @v with RTP time @ts (before the
 * viewer's offset). */
static void
send_to (GwSender *s, Viewer &v, guint32 ts)
{
  const guint n = s->packets.size ();
  guint i = 0;
  while (i < n) {
    guint batch = 0;
    for (; i < n && batch < BATCH; i++) {
      const Packet &p = s->packets[i];
      guint8 *d = s->slots + batch * SLOT;
      memcpy (d, s->arena.data () + p.offset, p.size);
      guint32 t = ts + v.ts_offset;
      d[0] = 0x80;
      d[1] = (p.marker ? 0x80 : 0) | (v.pt & 0x7f);
      d[2] = v.seq >> 8;
      d[3] = v.seq & 0xff;
      d[4] = t >> 24;
      d[5] = t >> 16;
      d[6] = t >> 8;
      d[7] = t;
      d[8] = v.ssrc >> 24;
      d[9] = v.ssrc >> 16;
      d[10] = v.ssrc >> 8;
      d[11] = v.ssrc;
      v.seq++;
      int len = (int)p.size;
      if (srtp_protect (v.srtp, d, &len) != srtp_err_status_ok) {
        v.dropped++;
        continue;
      }
      s->iov[batch].iov_base = d;
      s->iov[batch].iov_len = len;
      struct msghdr *h = &s->msgs[batch].msg_hdr;
      memset (h, 0, sizeof (*h));
      h->msg_name = &v.remote;
      h->msg_namelen = v.remote_len;
      h->msg_iov = &s->iov[batch];
      h->msg_iovlen = 1;
      batch++;
    }
    guint done = 0;
    while (done < batch) {
      int r = sendmmsg (v.fd, s->msgs + done, batch - done, MSG_DONTWAIT);
      if (r > 0) {
        done += r;
        continue;
      }
      if (r < 0 && errno == EINTR)
        continue;
      /* A full socket buffer (EAGAIN) or a gone peer: this viewer loses
       * these packets, its sequence numbers tell it so. */
      v.dropped += batch - done;
      break;
    }
    v.sent += done;
  }
}

static guint32
rtp_time (GwSender *s, GstClockTime t)
{
  return (guint32)gst_util_uint64_scale_round (t, s->clock_rate, GST_SECOND);
}

/* A viewer that has not started yet: starts it with the kept GOP (retimed
 * to just before @buf) or at a keyframe. FALSE if it still waits. */
static gboolean
start_viewer (GwSender *s, Viewer &v, GstBuffer *buf)
{
  if (s->codec != Codec::H264 || h264_is_key (buf)) {
    v.started = TRUE;
    return TRUE;
  }
  guint n = s->gop.frames.length;
  if (n > 0 && g_queue_peek_tail (&s->gop.frames) == buf)
    n--;
  if (n == 0)
    return FALSE;
  GST_DEBUG ("viewer %u starts with the %u frames since the last keyframe", v.id, n);
  GList *l = s->gop.frames.head;
  for (guint i = 0; i < n; i++, l = l->next) {
    GstBuffer *kept = GST_BUFFER (l->data);
    GstClockTime t = gw_gop_retime_time (i, n, GST_BUFFER_PTS (buf), GST_BUFFER_PTS (kept));
    if (packetize (s, kept, NULL))
      send_to (s, v, rtp_time (s, t));
  }
  v.started = TRUE;
  return TRUE;
}

/* Remembers the stream's last SPS and PPS, for a keyframe without them:
 * only ones that parse, so that a camera sending garbage cannot leave every
 * later keyframe with broken parameter sets in front. */
static void
keep_parameter_sets (GwSender *s, const guint8 *d, const GwNals &nals)
{
  for (auto &n : nals) {
    guint8 type = d[n.first] & 0x1f;
    if (type != 7 && type != 8)
      continue;
    GstH264NalUnit nalu;
    /* identify_nalu wants the start code in front: n.first - 3 holds it */
    if (n.first < 3
        || gst_h264_parser_identify_nalu_unchecked (s->parser, d, n.first - 3, n.first + n.second,
                                                    &nalu)
               != GST_H264_PARSER_OK)
      continue;
    gboolean ok;
    if (type == 7) {
      GstH264SPS sps;
      ok = gst_h264_parser_parse_sps (s->parser, &nalu, &sps) == GST_H264_PARSER_OK;
      if (ok)
        gst_h264_sps_clear (&sps);
    } else {
      GstH264PPS pps;
      ok = gst_h264_parser_parse_pps (s->parser, &nalu, &pps) == GST_H264_PARSER_OK;
      if (ok)
        gst_h264_pps_clear (&pps);
    }
    if (!ok) {
      GST_DEBUG ("ignoring a %s that does not parse", type == 7 ? "SPS" : "PPS");
      continue;
    }
    (type == 7 ? s->sps : s->pps).assign (d + n.first, d + n.first + n.second);
  }
}

static void
on_buffer (GwSender *s, GstBuffer *buf)
{
  g_mutex_lock (&s->lock);
  const GwNals *nals = NULL;
  if (s->codec == Codec::H264) {
    /* One scan of the access unit serves the parameter sets and the
     * packetizing below. */
    GstMapInfo map;
    if (gst_buffer_map (buf, &map, GST_MAP_READ)) {
      gw_h264_split_nals (map.data, map.size, s->nals);
      keep_parameter_sets (s, map.data, s->nals);
      gst_buffer_unmap (buf, &map);
      nals = &s->nals;
    }
    gw_gop_keep (&s->gop, buf);
  }
  if (s->viewers.empty () || s->codec == Codec::NONE || !GST_BUFFER_PTS_IS_VALID (buf)) {
    g_mutex_unlock (&s->lock);
    return;
  }

  guint32 ts = rtp_time (s, GST_BUFFER_PTS (buf));
  gboolean packed = FALSE;
  for (Viewer &v : s->viewers) {
    if (!v.started) {
      if (!start_viewer (s, v, buf))
        continue;
      packed = FALSE; /* the scratch held the kept frames */
    }
    if (!packed && !packetize (s, buf, nals))
      break;
    packed = TRUE;
    send_to (s, v, ts);
  }
  g_mutex_unlock (&s->lock);
}

static void
on_caps (GwSender *s, GstCaps *caps)
{
  const GstStructure *st = gst_caps_get_structure (caps, 0);
  const gchar *name = gst_structure_get_name (st);
  Codec codec = Codec::NONE;
  guint rate = 0;
  if (g_str_equal (name, "video/x-h264")) {
    codec = Codec::H264;
    rate = 90000;
  } else if (g_str_equal (name, "audio/x-opus")) {
    codec = Codec::OPUS;
    rate = 48000;
  } else if (g_str_equal (name, "audio/x-mulaw")) {
    codec = Codec::PCMU;
    rate = 8000;
  } else if (g_str_equal (name, "audio/x-alaw")) {
    codec = Codec::PCMA;
    rate = 8000;
  }
  g_mutex_lock (&s->lock);
  s->codec = codec;
  s->clock_rate = rate;
  clear_gop (s); /* new caps: old frames would not decode */
  g_mutex_unlock (&s->lock);
  GST_DEBUG ("stream %" GST_PTR_FORMAT, caps);
}

void
gw_sender_handle_buffer (GwSender *s, GstBuffer *buf)
{
  on_buffer (s, buf);
}

void
gw_sender_handle_event (GwSender *s, GstEvent *ev)
{
  if (GST_EVENT_TYPE (ev) == GST_EVENT_CAPS) {
    GstCaps *caps;
    gst_event_parse_caps (ev, &caps);
    on_caps (s, caps);
  } else if (GST_EVENT_TYPE (ev) == GST_EVENT_FLUSH_STOP
             || GST_EVENT_TYPE (ev) == GST_EVENT_STREAM_START) {
    g_mutex_lock (&s->lock);
    clear_gop (s);
    g_mutex_unlock (&s->lock);
  }
}

/* ------------------------------------------------------------ lifecycle */

static void
ensure_init (void)
{
  static gsize once = 0;
  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (gw_sender_debug, "gwsender", 0, "gw shared RTP sender");
    srtp_err_status_t err = srtp_init ();
    if (err != srtp_err_status_ok)
      GST_ERROR ("libsrtp initialisation failed: %d", err);
    g_once_init_leave (&once, 1);
  }
}

GwSender *
gw_sender_new (void)
{
  ensure_init ();
  GwSender *s = new _GwSender ();
  s->refs = 1;
  s->next_id = 1;
  s->codec = Codec::NONE;
  s->slots = static_cast<guint8 *> (g_malloc (BATCH * SLOT));
  s->parser = gst_h264_nal_parser_new ();
  gw_gop_init (&s->gop);
  g_mutex_init (&s->lock);
  GST_DEBUG ("sender %p made", s);
  return s;
}

GwSender *
gw_sender_ref (GwSender *s)
{
  g_atomic_int_inc (&s->refs);
  return s;
}

void
gw_sender_unref (GwSender *s)
{
  if (!g_atomic_int_dec_and_test (&s->refs))
    return;
  GST_DEBUG ("sender %p freed", s);
  for (Viewer &v : s->viewers)
    srtp_dealloc (v.srtp);
  clear_gop (s);
  g_mutex_clear (&s->lock);
  g_free (s->slots);
  gst_h264_nal_parser_free (s->parser);
  delete s;
}

guint
gw_sender_add (GwSender *s, const GwSenderViewer *viewer, GError **error)
{
  if (viewer->key_len != 30) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
                 "SRTP key of %" G_GSIZE_FORMAT " bytes (only AES-128 profiles are shared)",
                 viewer->key_len);
    return 0;
  }
  if (viewer->remote_len > sizeof (struct sockaddr_storage) || viewer->fd < 0) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "no usable socket");
    return 0;
  }

  srtp_policy_t policy;
  memset (&policy, 0, sizeof (policy));
  if (viewer->auth_80) {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80 (&policy.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80 (&policy.rtcp);
  } else {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32 (&policy.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80 (&policy.rtcp);
  }
  policy.ssrc.type = ssrc_any_outbound;
  guint8 key[30];
  memcpy (key, viewer->key, sizeof (key));
  policy.key = key;
  policy.window_size = 128;
  policy.allow_repeat_tx = 1;
  Viewer v = {};
  srtp_err_status_t err = srtp_create (&v.srtp, &policy);
  memset (key, 0, sizeof (key));
  if (err != srtp_err_status_ok) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
                 "libsrtp refused the keys (error %d)", err);
    return 0;
  }
  v.ssrc = viewer->ssrc;
  v.pt = viewer->pt;
  v.seq = g_random_int_range (0, 0x8000);
  v.ts_offset = g_random_int ();
  v.fd = viewer->fd;
  memcpy (&v.remote, viewer->remote, viewer->remote_len);
  v.remote_len = viewer->remote_len;

  g_mutex_lock (&s->lock);
  if (s->codec == Codec::NONE) {
    g_mutex_unlock (&s->lock);
    srtp_dealloc (v.srtp);
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
                 "the stream is not one the shared sender packetizes");
    return 0;
  }
  v.id = s->next_id++;
  if (s->next_id == 0)
    s->next_id = 1;
  s->viewers.push_back (v);
  guint id = v.id;
  g_mutex_unlock (&s->lock);
  GST_DEBUG ("viewer %u added (ssrc %08x, pt %u)", id, viewer->ssrc, viewer->pt);
  return id;
}

void
gw_sender_remove (GwSender *s, guint id)
{
  g_mutex_lock (&s->lock);
  for (auto it = s->viewers.begin (); it != s->viewers.end (); ++it) {
    if (it->id == id) {
      GST_DEBUG ("viewer %u removed: %" G_GUINT64_FORMAT " packets sent, %" G_GUINT64_FORMAT
                 " dropped",
                 id, it->sent, it->dropped);
      srtp_dealloc (it->srtp);
      s->viewers.erase (it);
      break;
    }
  }
  g_mutex_unlock (&s->lock);
}

guint
gw_sender_get_n_viewers (GwSender *s)
{
  g_mutex_lock (&s->lock);
  guint n = s->viewers.size ();
  g_mutex_unlock (&s->lock);
  return n;
}

/* ------------------------------------------------------------ pads */

static GQuark
sender_quark (void)
{
  static GQuark q = 0;
  if (!q)
    q = g_quark_from_static_string ("gw-sender");
  return q;
}

void
gw_sender_mark_pad (GstPad *pad, GwSender *sender)
{
  g_object_set_qdata_full (G_OBJECT (pad), sender_quark (), sender ? gw_sender_ref (sender) : NULL,
                           (GDestroyNotify)gw_sender_unref);
}

GwSender *
gw_sender_from_pad (GstPad *pad)
{
  GST_OBJECT_LOCK (pad);
  GwSender *s = static_cast<GwSender *> (g_object_get_qdata (G_OBJECT (pad), sender_quark ()));
  if (s)
    gw_sender_ref (s);
  GST_OBJECT_UNLOCK (pad);
  return s;
}
