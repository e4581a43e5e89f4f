/* GwSender: see gwsender.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwsender.h"
#include "gwpacketizer.h"

#include <errno.h>
#include <netinet/in.h>
#include <srtp2/srtp.h>
#include <string.h>
#include <sys/socket.h>

#include <vector>

GST_DEBUG_CATEGORY_STATIC (gw_sender_debug);
#define GST_CAT_DEFAULT gw_sender_debug

namespace {

/* Room after a packet for the SRTP authentication tag. */
constexpr gsize TAG_ROOM = 16;
constexpr gsize SLOT = GW_RTP_MTU + TAG_ROOM;
/* Packets per sendmmsg(). */
constexpr guint BATCH = 64;

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

  /* Under the lock too (gw_sender_add reads whether it is ready), written
   * from the stream's streaming thread only. */
  GwPacketizer packetizer;
  /* Scratch: one viewer's batch. */
  guint8 *slots;
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
};

/* ------------------------------------------------------------ sending */

/* Sends the packetizer's packets to @v with RTP time @ts (before the
 * viewer's offset). */
static void
send_to (GwSender *s, Viewer &v, guint32 ts)
{
  const std::vector<GwRtpPacket> &packets = s->packetizer.packets ();
  const guint8 *data = s->packetizer.data ();
  const guint n = packets.size ();
  guint i = 0;
  while (i < n) {
    guint batch = 0;
    for (; i < n && batch < BATCH; i++) {
      const GwRtpPacket &p = packets[i];
      guint8 *d = s->slots + batch * SLOT;
      memcpy (d, data + p.offset, p.size);
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
  return (guint32)gst_util_uint64_scale_round (t, s->packetizer.clock_rate (), GST_SECOND);
}

/* A viewer that has not started yet: starts it with the stream's kept GOP
 * (retimed to just before @buf) or at a keyframe. FALSE if it still waits. */
static gboolean
start_viewer (GwSender *s, Viewer &v, GstBuffer *buf, const GwGop *gop)
{
  if (s->packetizer.starts_stream (buf)) {
    v.started = TRUE;
    return TRUE;
  }
  guint n = gop ? gop->frames.length : 0;
  if (n > 0 && gop->frames.tail->data == buf)
    n--;
  if (n == 0)
    return FALSE;
  GST_DEBUG ("viewer %u starts with the %u frames since the last keyframe", v.id, n);
  GList *l = gop->frames.head;
  for (guint i = 0; i < n; i++, l = l->next) {
    GstBuffer *kept = GST_BUFFER (l->data);
    GstClockTime t = gw_gop_retime_time (i, n, GST_BUFFER_PTS (buf), GST_BUFFER_PTS (kept));
    if (s->packetizer.packetize (kept, FALSE))
      send_to (s, v, rtp_time (s, t));
  }
  v.started = TRUE;
  return TRUE;
}

void
gw_sender_handle_buffer (GwSender *s, GstBuffer *buf, const GwGop *gop)
{
  g_mutex_lock (&s->lock);
  s->packetizer.observe (buf);
  if (s->viewers.empty () || !s->packetizer.ready () || !GST_BUFFER_PTS_IS_VALID (buf)) {
    g_mutex_unlock (&s->lock);
    return;
  }

  guint32 ts = rtp_time (s, GST_BUFFER_PTS (buf));
  gboolean packed = FALSE;
  for (Viewer &v : s->viewers) {
    if (!v.started) {
      if (!start_viewer (s, v, buf, gop))
        continue;
      packed = FALSE; /* the scratch held the kept frames */
    }
    if (!packed && !s->packetizer.packetize (buf, TRUE))
      break;
    packed = TRUE;
    send_to (s, v, ts);
  }
  g_mutex_unlock (&s->lock);
}

static void
on_caps (GwSender *s, GstCaps *caps)
{
  g_mutex_lock (&s->lock);
  s->packetizer.set_caps (caps);
  g_mutex_unlock (&s->lock);
  GST_DEBUG ("stream %" GST_PTR_FORMAT, caps);
}

void
gw_sender_handle_event (GwSender *s, GstEvent *ev)
{
  if (GST_EVENT_TYPE (ev) == GST_EVENT_CAPS) {
    GstCaps *caps;
    gst_event_parse_caps (ev, &caps);
    on_caps (s, caps);
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
  s->slots = static_cast<guint8 *> (g_malloc (BATCH * SLOT));
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
  g_mutex_clear (&s->lock);
  g_free (s->slots);
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
  if (!s->packetizer.ready ()) {
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
