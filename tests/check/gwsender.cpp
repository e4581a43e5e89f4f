/* The shared sender: what a viewer's socket receives, decrypted with the
 * viewer's SRTP keys as a browser would. */
#include <gst/check/gstcheck.h>

#include "gwgop.h"
#include "gwsender.h"

#include <netinet/in.h>
#include <srtp2/srtp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

static const guint8 KEY[30] = { 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30 };
/* A real baseline SPS and PPS (64x64): the sender only keeps ones that parse. */
static const guint8 SPS[]
    = { 0,    0,    0,    1,    0x67, 0x42, 0xc0, 0x15, 0xd9, 0x04, 0x26, 0xc0, 0x5a, 0x83, 0x03,
        0x03, 0x52, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x1e, 0x47, 0x8b, 0x17, 0x24 };
static const guint8 PPS[] = { 0, 0, 0, 1, 0x68, 0xcb, 0x8c, 0xb2 };

struct Peer
{
  int tx, rx; /* the sender's socket, the viewer's */
  struct sockaddr_in rx_addr;
  srtp_t srtp;
};

static void
peer_init (Peer *p)
{
  p->tx = socket (AF_INET, SOCK_DGRAM, 0);
  p->rx = socket (AF_INET, SOCK_DGRAM, 0);
  fail_unless (p->tx >= 0 && p->rx >= 0);
  srtp_init ();
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  fail_unless (bind (p->rx, (struct sockaddr *)&a, sizeof (a)) == 0);
  socklen_t len = sizeof (p->rx_addr);
  getsockname (p->rx, (struct sockaddr *)&p->rx_addr, &len);
  int big = 4 << 20;
  setsockopt (p->rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof (big));
  struct timeval tv = { 2, 0 };
  setsockopt (p->rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof (tv));

  srtp_policy_t policy = {};
  srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80 (&policy.rtp);
  srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80 (&policy.rtcp);
  policy.ssrc.type = ssrc_any_inbound;
  policy.key = (unsigned char *)KEY;
  policy.window_size = 1024;
  fail_unless_equals_int (srtp_create (&p->srtp, &policy), srtp_err_status_ok);
}

static void
peer_clear (Peer *p)
{
  srtp_dealloc (p->srtp);
  close (p->tx);
  close (p->rx);
}

static guint
add_viewer (GwSender *s, Peer *p, guint32 ssrc, guint8 pt)
{
  GwSenderViewer v = {};
  v.ssrc = ssrc;
  v.pt = pt;
  v.key = KEY;
  v.key_len = sizeof (KEY);
  v.auth_80 = TRUE;
  v.fd = p->tx;
  v.remote = (const struct sockaddr *)&p->rx_addr;
  v.remote_len = sizeof (p->rx_addr);
  GError *err = NULL;
  guint id = gw_sender_add (s, &v, &err);
  fail_unless (id > 0, "%s", err ? err->message : "");
  return id;
}

/* Receives one packet and decrypts it; returns the RTP packet. */
static std::vector<guint8>
receive (Peer *p)
{
  std::vector<guint8> buf (2048);
  ssize_t n = recv (p->rx, buf.data (), buf.size (), 0);
  fail_unless (n > 12, "no packet");
  int len = n;
  fail_unless_equals_int (srtp_unprotect (p->srtp, buf.data (), &len), srtp_err_status_ok);
  buf.resize (len);
  return buf;
}

static gboolean
nothing_more (Peer *p)
{
  guint8 b[2048];
  return recv (p->rx, b, sizeof (b), MSG_DONTWAIT) < 0;
}

static GstBuffer *
au (std::vector<std::vector<guint8> > nals, gboolean key, GstClockTime pts)
{
  std::vector<guint8> d;
  for (auto &n : nals)
    d.insert (d.end (), n.begin (), n.end ());
  GstBuffer *b = gst_buffer_new_memdup (d.data (), d.size ());
  if (!key)
    GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DELTA_UNIT);
  GST_BUFFER_PTS (b) = pts;
  return b;
}

static std::vector<guint8>
nal (guint8 header, gsize size)
{
  std::vector<guint8> n = { 0, 0, 0, 1, header };
  for (gsize i = 1; i < size; i++)
    n.push_back ((guint8)(i * 7 + 1)); /* no 00 00 01 inside */
  return n;
}

/* The stream's kept GOP, kept here as the stream object keeps it (video
 * only, cleared by new caps) and handed to the sender with each buffer. */
static GwGop gop = { G_QUEUE_INIT, 0 };
static gboolean video;

static void
caps (GwSender *s, const gchar *str)
{
  GstEvent *ev = gst_event_new_caps (gst_caps_from_string (str));
  gw_sender_handle_event (s, ev);
  gst_event_unref (ev);
  gw_gop_clear (&gop);
  video = g_str_has_prefix (str, "video/");
}

static void
push (GwSender *s, GstBuffer *b)
{
  if (video)
    gw_gop_keep (&gop, b);
  gw_sender_handle_buffer (s, b, &gop);
  gst_buffer_unref (b);
}

static guint16
seq_of (const std::vector<guint8> &p)
{
  return (p[2] << 8) | p[3];
}
static guint32
u32 (const std::vector<guint8> &p, gsize off)
{
  return ((guint32)p[off] << 24) | (p[off + 1] << 16) | (p[off + 2] << 8) | p[off + 3];
}

GST_START_TEST (test_h264_packets_a_viewer_decrypts)
{
  Peer p;
  peer_init (&p);
  GwSender *s = gw_sender_new ();
  caps (s, "video/x-h264, stream-format=byte-stream, alignment=au");
  /* Before any keyframe: nothing to start from. */
  push (s, au ({ nal (0x41, 100) }, FALSE, GST_SECOND / 2));
  add_viewer (s, &p, 0x11223344, 102);
  push (s, au ({ nal (0x41, 100) }, FALSE, GST_SECOND / 2 + 1));
  fail_unless (nothing_more (&p));

  /* A keyframe without parameter sets (they came earlier in the stream):
   * SPS, PPS, then the IDR slice in FU-A fragments; marker on the last. */
  push (s, au ({ std::vector<guint8> (SPS, SPS + sizeof (SPS)),
                 std::vector<guint8> (PPS, PPS + sizeof (PPS)), nal (0x41, 50) },
               FALSE, GST_SECOND - 2));
  /* then a broken SPS (a camera sending garbage): not kept */
  push (s, au ({ { 0, 0, 0, 1, 0x67, 0xff, 0xff }, nal (0x41, 50) }, FALSE, GST_SECOND - 1));
  fail_unless (nothing_more (&p));
  std::vector<guint8> idr = nal (0x65, 3000);
  push (s, au ({ idr }, TRUE, GST_SECOND));

  std::vector<guint8> sps = receive (&p);
  fail_unless_equals_int (sps[0], 0x80);
  fail_unless_equals_int (sps[1] & 0x7f, 102);
  fail_unless_equals_int (sps[1] & 0x80, 0);
  fail_unless_equals_int (u32 (sps, 8), 0x11223344);
  fail_unless_equals_int (sps[12] & 0x1f, 7);
  fail_unless_equals_int (sps.size (), 12 + sizeof (SPS) - 4);
  std::vector<guint8> pps = receive (&p);
  fail_unless_equals_int (pps[12] & 0x1f, 8);
  fail_unless_equals_int (seq_of (pps), (guint16)(seq_of (sps) + 1));
  fail_unless_equals_int (u32 (pps, 4), u32 (sps, 4));

  std::vector<guint8> rebuilt = { idr[4] };
  guint16 seq = seq_of (pps);
  gboolean end = FALSE;
  guint frags = 0;
  while (!end) {
    std::vector<guint8> f = receive (&p);
    fail_unless (f.size () <= 1200 + 0, "packet of %u bytes", (guint)f.size ());
    fail_unless_equals_int (seq_of (f), (guint16)(seq + 1));
    seq = seq_of (f);
    fail_unless_equals_int (f[12] & 0x1f, 28);             /* FU-A */
    fail_unless_equals_int (f[13] & 0x1f, 5);              /* of an IDR */
    fail_unless_equals_int (!!(f[13] & 0x80), frags == 0); /* start bit */
    end = (f[13] & 0x40) != 0;
    fail_unless_equals_int (!!(f[1] & 0x80), end); /* marker */
    rebuilt.insert (rebuilt.end (), f.begin () + 14, f.end ());
    frags++;
  }
  fail_unless (frags >= 3);
  fail_unless (rebuilt == std::vector<guint8> (idr.begin () + 4, idr.end ()));

  /* A delta unit 1/30 s later: the RTP clock moved 3000 ticks at 90 kHz. */
  guint32 ts0 = u32 (sps, 4);
  push (s, au ({ nal (0x41, 80) }, FALSE, GST_SECOND + GST_SECOND / 30));
  std::vector<guint8> d = receive (&p);
  fail_unless_equals_int (u32 (d, 4) - ts0, 3000);
  fail_unless_equals_int (d[1] & 0x80, 0x80);
  fail_unless (nothing_more (&p));

  gw_sender_unref (s);
  gw_gop_clear (&gop);
  peer_clear (&p);
}
GST_END_TEST;

/* Real H.265 parameter sets (Main, 64x64), with start codes. */
static const guint8 H265_VPS[]
    = { 0,    0,    0,    1,    0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00,
        0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3f, 0xba, 0x02, 0x40 };
static const guint8 H265_SPS[]
    = { 0,    0,    0,    1,    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00,
        0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3f, 0xa0, 0x20, 0x81, 0x05,
        0x96, 0xe9, 0x29, 0x30, 0xbf, 0xfc, 0x00, 0x04, 0x00, 0x05, 0xa8, 0x30, 0x30,
        0x30, 0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x01, 0xe1 };
static const guint8 H265_PPS[] = { 0, 0, 0, 1, 0x44, 0x01, 0xc0, 0x71, 0x81, 0x12 };

/* An H.265 NAL unit of @type (layer 0, temporal id 0), @size bytes with
 * its two-byte header. */
static std::vector<guint8>
nal265 (guint type, gsize size)
{
  std::vector<guint8> n = nal ((guint8)(type << 1), size);
  n[5] = 0x01;
  return n;
}

static guint
type265 (const guint8 *header)
{
  return (header[0] >> 1) & 0x3f;
}

/* The NAL units in the payload of an aggregation packet @p (RFC 7798
 * 4.4.2: each after a 16-bit size), with their start codes. */
static std::vector<std::vector<guint8> >
ap_units (const std::vector<guint8> &p)
{
  std::vector<std::vector<guint8> > units;
  gsize off = 12 + 2;
  while (off + 2 <= p.size ()) {
    gsize len = (p[off] << 8) | p[off + 1];
    off += 2;
    fail_unless (off + len <= p.size (), "AP unit runs past the packet");
    std::vector<guint8> u = { 0, 0, 0, 1 };
    u.insert (u.end (), p.begin () + off, p.begin () + off + len);
    units.push_back (u);
    off += len;
  }
  fail_unless_equals_int (off, p.size ());
  return units;
}

/* RFC 7798 from the shared sender: a keyframe that comes without its
 * parameter sets gets the stream's last valid VPS, SPS and PPS in front,
 * in one aggregation packet; a slice over the MTU goes in fragmentation
 * units; small units up to a slice share one aggregation packet. */
GST_START_TEST (test_h265_packets_a_viewer_decrypts)
{
  Peer p;
  peer_init (&p);
  GwSender *s = gw_sender_new ();
  caps (s, "video/x-h265, stream-format=byte-stream, alignment=au");
  std::vector<guint8> vps (H265_VPS, H265_VPS + sizeof (H265_VPS));
  std::vector<guint8> sps (H265_SPS, H265_SPS + sizeof (H265_SPS));
  std::vector<guint8> pps (H265_PPS, H265_PPS + sizeof (H265_PPS));
  add_viewer (s, &p, 0x55667788, 98);
  /* Parameter sets in a delta unit (before the viewer can start), then a
   * broken SPS that is not kept. */
  push (s, au ({ vps, sps, pps, nal265 (1, 50) }, FALSE, GST_SECOND - 2));
  push (s, au ({ { 0, 0, 0, 1, 0x42, 0x01, 0xff, 0xff }, nal265 (1, 50) }, FALSE, GST_SECOND - 1));
  fail_unless (nothing_more (&p));

  /* A keyframe (IDR_W_RADL) alone, over the MTU. */
  std::vector<guint8> idr = nal265 (19, 3000);
  push (s, au ({ idr }, TRUE, GST_SECOND));
  std::vector<guint8> ap = receive (&p);
  fail_unless_equals_int (ap[0], 0x80);
  fail_unless_equals_int (ap[1] & 0x7f, 98);
  fail_unless_equals_int (ap[1] & 0x80, 0); /* not the last of the unit */
  fail_unless_equals_int (u32 (ap, 8), 0x55667788);
  fail_unless_equals_int (type265 (&ap[12]), 48); /* AP */
  fail_unless_equals_int (ap[13], 0x01);          /* layer 0, TID 0 */
  std::vector<std::vector<guint8> > units = ap_units (ap);
  fail_unless_equals_int (units.size (), 3);
  fail_unless (units[0] == vps && units[1] == sps && units[2] == pps);

  std::vector<guint8> rebuilt = { idr[4], idr[5] };
  guint16 seq = seq_of (ap);
  gboolean end = FALSE;
  guint frags = 0;
  while (!end) {
    std::vector<guint8> f = receive (&p);
    fail_unless (f.size () <= 1200, "packet of %u bytes", (guint)f.size ());
    fail_unless_equals_int (seq_of (f), (guint16)(seq + 1));
    fail_unless_equals_int (u32 (f, 4), u32 (ap, 4));
    seq = seq_of (f);
    fail_unless_equals_int (type265 (&f[12]), 49); /* FU */
    fail_unless_equals_int (f[13], 0x01);
    fail_unless_equals_int (f[14] & 0x3f, 19);             /* of an IDR_W_RADL */
    fail_unless_equals_int (!!(f[14] & 0x80), frags == 0); /* start bit */
    end = (f[14] & 0x40) != 0;
    fail_unless_equals_int (!!(f[1] & 0x80), end); /* marker */
    rebuilt.insert (rebuilt.end (), f.begin () + 15, f.end ());
    frags++;
  }
  fail_unless (frags >= 3);
  fail_unless (rebuilt == std::vector<guint8> (idr.begin () + 4, idr.end ()));

  /* A keyframe with its own small sets, an SEI and an AUD: the delimiter
   * is dropped (the marker says it), the rest fits one aggregation packet
   * ending with the slice, marker set. */
  std::vector<guint8> sei = nal265 (39, 20), cra = nal265 (21, 200);
  push (s, au ({ nal265 (35, 3), vps, sps, pps, sei, cra }, TRUE, GST_SECOND + GST_SECOND / 15));
  std::vector<guint8> one = receive (&p);
  fail_unless_equals_int (type265 (&one[12]), 48);
  fail_unless_equals_int (one[1] & 0x80, 0x80);
  fail_unless_equals_int (u32 (one, 4) - u32 (ap, 4), 6000);
  units = ap_units (one);
  fail_unless_equals_int (units.size (), 5);
  fail_unless (units[0] == vps && units[3] == sei && units[4] == cra);

  /* A small delta unit: one single NAL unit packet. */
  std::vector<guint8> trail = nal265 (1, 80);
  push (s, au ({ trail }, FALSE, GST_SECOND + GST_SECOND / 10));
  std::vector<guint8> d = receive (&p);
  fail_unless_equals_int (d[1] & 0x80, 0x80);
  fail_unless (std::vector<guint8> (d.begin () + 12, d.end ())
               == std::vector<guint8> (trail.begin () + 4, trail.end ()));
  fail_unless (nothing_more (&p));

  gw_sender_unref (s);
  gw_gop_clear (&gop);
  peer_clear (&p);
}
GST_END_TEST;

GST_START_TEST (test_late_viewer_starts_at_the_keyframe)
{
  Peer p;
  peer_init (&p);
  GwSender *s = gw_sender_new ();
  caps (s, "video/x-h264, stream-format=byte-stream, alignment=au");
  push (s, au ({ std::vector<guint8> (SPS, SPS + sizeof (SPS)),
                 std::vector<guint8> (PPS, PPS + sizeof (PPS)), nal (0x65, 40) },
               TRUE, GST_SECOND));
  push (s, au ({ nal (0x41, 40) }, FALSE, GST_SECOND + 33 * GST_MSECOND));
  add_viewer (s, &p, 7, 96);
  GstClockTime live = GST_SECOND + 66 * GST_MSECOND;
  push (s, au ({ nal (0x41, 40) }, FALSE, live));

  /* Kept frames first, 1 ms apart ending 1 ms before the live one: SPS,
   * PPS, IDR (one access unit), the delta unit, then the live unit. */
  guint types[] = { 7, 8, 5, 1, 1 };
  guint32 ts[5];
  for (guint i = 0; i < 5; i++) {
    std::vector<guint8> pk = receive (&p);
    fail_unless_equals_int (pk[12] & 0x1f, types[i]);
    ts[i] = u32 (pk, 4);
  }
  fail_unless (nothing_more (&p));
  fail_unless_equals_int (ts[0], ts[2]);
  fail_unless_equals_int (ts[3] - ts[2], 90 * GW_GOP_STEP / GST_MSECOND);
  fail_unless_equals_int (ts[4] - ts[3], 90 * GW_GOP_STEP / GST_MSECOND);

  gw_sender_unref (s);
  gw_gop_clear (&gop);
  peer_clear (&p);
}
GST_END_TEST;

GST_START_TEST (test_audio_and_removal)
{
  Peer p, q;
  peer_init (&p);
  peer_init (&q);
  GwSender *s = gw_sender_new ();
  caps (s, "audio/x-opus, channels=2, rate=48000");
  guint a = add_viewer (s, &p, 1, 111);
  add_viewer (s, &q, 2, 109);
  fail_unless_equals_int (gw_sender_get_n_viewers (s), 2);
  std::vector<guint8> opus (60, 0xfc);
  GstBuffer *b = gst_buffer_new_memdup (opus.data (), opus.size ());
  GST_BUFFER_PTS (b) = 20 * GST_MSECOND;
  push (s, b);
  std::vector<guint8> pa = receive (&p), pb = receive (&q);
  fail_unless_equals_int (pa[1] & 0x7f, 111);
  fail_unless_equals_int (pb[1] & 0x7f, 109);
  fail_unless (std::vector<guint8> (pa.begin () + 12, pa.end ()) == opus);

  gw_sender_remove (s, a);
  fail_unless_equals_int (gw_sender_get_n_viewers (s), 1);
  b = gst_buffer_new_memdup (opus.data (), opus.size ());
  GST_BUFFER_PTS (b) = 40 * GST_MSECOND;
  push (s, b);
  pb = receive (&q);
  fail_unless (nothing_more (&p));

  /* A stream it cannot packetize: viewers are refused with a reason. */
  caps (s, "video/x-vp8");
  GwSenderViewer v = {};
  v.key = KEY;
  v.key_len = sizeof (KEY);
  v.fd = p.tx;
  v.remote = (const struct sockaddr *)&p.rx_addr;
  v.remote_len = sizeof (p.rx_addr);
  GError *err = NULL;
  fail_unless_equals_int (gw_sender_add (s, &v, &err), 0);
  fail_unless (err != NULL);
  g_clear_error (&err);

  gw_sender_unref (s);
  gw_gop_clear (&gop);
  peer_clear (&p);
  peer_clear (&q);
}
GST_END_TEST;

static Suite *
gwsender_suite (void)
{
  Suite *s = suite_create ("gwsender");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_h264_packets_a_viewer_decrypts);
  tcase_add_test (tc, test_h265_packets_a_viewer_decrypts);
  tcase_add_test (tc, test_late_viewer_starts_at_the_keyframe);
  tcase_add_test (tc, test_audio_and_removal);
  return s;
}

GST_CHECK_MAIN (gwsender);
