/* gwreadershared.cpp: a reader's streams sent by their fan-out's shared
 * sender (gwsender.h). Once the peer connection is up, each such stream hands
 * the sender what webrtcbin negotiated — SSRC and payload type, the SRTP keys
 * from the DTLS handshake, the socket and remote address ICE selected — and
 * the reader's own send path stays idle. Anything missing (a TURN relay, a
 * cipher the sender does not do) falls back to the reader's own path.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwreaderbin-private.h"

#include <nice/agent.h>
#include <sys/socket.h>

gint
gw_reader_bin_decide_send (GwReaderBin *self, Stream *st)
{
  gint mode = g_atomic_int_get (&st->send_mode);
  if (mode != SEND_UNDECIDED)
    return mode;
  GwSender *sender = gw_sender_from_pad (st->ghost);
  GST_OBJECT_LOCK (self);
  gboolean wanted = self->shared_sender;
  mode = g_atomic_int_get (&st->send_mode);
  if (mode == SEND_UNDECIDED) {
    mode = sender && wanted ? SEND_SHARED : SEND_OWN;
    if (mode == SEND_SHARED && !st->sender)
      st->sender = gw_sender_ref (sender);
    g_atomic_int_set (&st->send_mode, mode);
  }
  GST_OBJECT_UNLOCK (self);
  if (sender)
    gw_sender_unref (sender);
  GST_DEBUG_OBJECT (self, "%s: %s", st->name, mode == SEND_SHARED ? "shared sender" : "own path");
  return mode;
}

/* The srtpenc inside webrtcbin (one transport: BUNDLE). */
static GstElement *
find_srtpenc (GstElement *webrtcbin)
{
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (webrtcbin));
  GValue v = G_VALUE_INIT;
  GstElement *found = NULL;
  gboolean done = FALSE;
  while (!done && !found) {
    switch (gst_iterator_next (it, &v)) {
    case GST_ITERATOR_OK: {
      GstElement *e = GST_ELEMENT (g_value_get_object (&v));
      GstElementFactory *f = gst_element_get_factory (e);
      if (f && g_str_equal (GST_OBJECT_NAME (f), "srtpenc"))
        found = GST_ELEMENT (gst_object_ref (e));
      g_value_reset (&v);
      break;
    }
    case GST_ITERATOR_RESYNC:
      gst_iterator_resync (it);
      break;
    default:
      done = TRUE;
      break;
    }
  }
  g_value_unset (&v);
  gst_iterator_free (it);
  return found;
}

/* Fills @out from webrtcbin's state for the stream sent on @wpad. @key and
 * @addr hold what @out points to. */
static gboolean
viewer_params (GwReaderBin *self, Stream *st, GwSenderViewer *out, GstBuffer **key,
               struct sockaddr_storage *addr, GError **error)
{
  const GstStructure *s = gst_caps_get_structure (st->rtp_caps, 0);
  guint ssrc = 0;
  gint pt = -1;
  if (!gst_structure_get_uint (s, "ssrc", &ssrc) || !gst_structure_get_int (s, "payload", &pt)) {
    g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_STATE, "no SSRC or payload type");
    return FALSE;
  }
  out->ssrc = ssrc;
  out->pt = pt;

  g_autoptr (GstElement) enc = find_srtpenc (self->webrtcbin);
  gint cipher = 0, auth = 0;
  if (enc)
    g_object_get (enc, "key", key, "rtp-cipher", &cipher, "rtp-auth", &auth, NULL);
  /* GstSrtpCipherType 1 = AES-128-ICM; GstSrtpAuthType 1/2 = HMAC-SHA1-32/80 */
  if (!*key || cipher != 1 || (auth != 1 && auth != 2)) {
    g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_STATE,
                 "no AES-128 SRTP keys (cipher %d, auth %d)", cipher, auth);
    return FALSE;
  }
  out->auth_80 = auth == 2;

  /* webrtcbin sink pad -> transceiver -> sender -> DTLS -> ICE transport ->
   * nice stream id; the agent from the ICE object. */
  g_autoptr (GstWebRTCRTPTransceiver) trans = NULL;
  g_object_get (st->webrtc_pad, "transceiver", &trans, NULL);
  g_autoptr (GstWebRTCRTPSender) sender = NULL;
  if (trans)
    g_object_get (trans, "sender", &sender, NULL);
  g_autoptr (GstWebRTCDTLSTransport) dtls = NULL;
  if (sender)
    g_object_get (sender, "transport", &dtls, NULL);
  g_autoptr (GstWebRTCICETransport) icet = NULL;
  if (dtls)
    g_object_get (dtls, "transport", &icet, NULL);
  GObject *stream = NULL;
  if (icet && g_object_class_find_property (G_OBJECT_GET_CLASS (icet), "stream"))
    g_object_get (icet, "stream", &stream, NULL);
  guint stream_id = 0;
  if (stream)
    g_object_get (stream, "stream-id", &stream_id, NULL);
  g_clear_object (&stream);
  GObject *ice = NULL, *agent = NULL;
  g_object_get (self->webrtcbin, "ice-agent", &ice, NULL);
  if (ice && g_object_class_find_property (G_OBJECT_GET_CLASS (ice), "agent"))
    g_object_get (ice, "agent", &agent, NULL);
  g_clear_object (&ice);

  gboolean ok = FALSE;
  if (agent && stream_id) {
    NiceAgent *na = NICE_AGENT (agent);
    NiceCandidate *local = NULL, *remote = NULL;
    GSocket *sock = nice_agent_get_selected_socket (na, stream_id, 1);
    if (sock && nice_agent_get_selected_pair (na, stream_id, 1, &local, &remote) && remote && local
        && local->type != NICE_CANDIDATE_TYPE_RELAYED) {
      nice_address_copy_to_sockaddr (&remote->addr, (struct sockaddr *)addr);
      out->remote = (const struct sockaddr *)addr;
      out->remote_len = addr->ss_family == AF_INET6 ? sizeof (struct sockaddr_in6)
                                                    : sizeof (struct sockaddr_in);
      out->fd = g_socket_get_fd (sock);
      ok = out->fd >= 0;
    }
    g_clear_object (&sock);
  }
  g_clear_object (&agent);
  if (!ok)
    g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_STATE,
                 "no directly usable ICE socket (relayed, or none selected)");
  return ok;
}

static gboolean
still_connected (GwReaderBin *self)
{
  GST_OBJECT_LOCK (self);
  gboolean c = self->connection_state == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED;
  GST_OBJECT_UNLOCK (self);
  return c;
}

gboolean
gw_reader_bin_start_shared (GwReaderBin *self)
{
  GST_OBJECT_LOCK (self);
  guint n = self->streams->len;
  g_autofree Stream **streams = g_new0 (Stream *, n);
  for (guint i = 0; i < n; i++)
    streams[i] = static_cast<Stream *> (g_ptr_array_index (self->streams, i));
  GST_OBJECT_UNLOCK (self);

  gboolean fell_back = FALSE;
  for (guint i = 0; i < n; i++) {
    Stream *st = streams[i];
    if (!st->pay || gw_reader_bin_decide_send (self, st) != SEND_SHARED)
      continue;
    GST_OBJECT_LOCK (self);
    gboolean registered = st->sender_id != 0;
    GwSender *sender = st->sender ? gw_sender_ref (st->sender) : NULL;
    GST_OBJECT_UNLOCK (self);
    if (registered || !sender) {
      if (sender)
        gw_sender_unref (sender);
      continue;
    }
    GwSenderViewer v = {};
    GstBuffer *key = NULL;
    struct sockaddr_storage addr = {};
    GError *err = NULL;
    guint id = 0;
    /* "connected" can come a moment before the DTLS keys reach srtpenc:
     * wait for them a little (bounded) rather than fall back at once. */
    gboolean have = FALSE;
    guint tries = 0;
    for (; tries < 100; tries++) {
      g_clear_error (&err);
      gst_clear_buffer (&key);
      have = viewer_params (self, st, &v, &key, &addr, &err);
      if (have || !still_connected (self))
        break;
      g_usleep (5000);
    }
    if (tries > 0)
      GST_INFO_OBJECT (self, "%s: waited %u ms for the keys and socket: %s", st->name, tries * 5,
                       have ? "ready" : "gave up");
    if (have) {
      GstMapInfo map;
      if (gst_buffer_map (key, &map, GST_MAP_READ)) {
        v.key = map.data;
        v.key_len = map.size;
        id = gw_sender_add (sender, &v, &err);
        gst_buffer_unmap (key, &map);
      }
    }
    gst_clear_buffer (&key);
    gw_sender_unref (sender);
    if (id) {
      GST_OBJECT_LOCK (self);
      st->sender_id = id;
      GST_OBJECT_UNLOCK (self);
      GST_INFO_OBJECT (self, "%s: sent by the shared sender", st->name);
    } else {
      GST_WARNING_OBJECT (self, "%s: not shared (%s), sending it ourselves", st->name,
                          err ? err->message : "unknown");
      g_clear_error (&err);
      g_atomic_int_set (&st->send_mode, SEND_OWN);
      fell_back = TRUE;
    }
  }
  return fell_back;
}

void
gw_reader_bin_stop_shared (GwReaderBin *self)
{
  GST_OBJECT_LOCK (self);
  guint n = self->streams->len;
  g_autofree GwSender **senders = g_new0 (GwSender *, n);
  g_autofree guint *ids = g_new0 (guint, n);
  for (guint i = 0; i < n; i++) {
    Stream *st = static_cast<Stream *> (g_ptr_array_index (self->streams, i));
    if (st->sender_id && st->sender) {
      senders[i] = gw_sender_ref (st->sender);
      ids[i] = st->sender_id;
      st->sender_id = 0;
    }
  }
  GST_OBJECT_UNLOCK (self);
  for (guint i = 0; i < n; i++) {
    if (!senders[i])
      continue;
    gw_sender_remove (senders[i], ids[i]);
    gw_sender_unref (senders[i]);
  }
}
