/* gwreadershared.cpp: how a reader's streams are sent once its viewer is
 * connected. A stream attached by a stream object (gwstream.h) gets only its
 * events until then. Connected, each negotiated stream either hands the
 * stream's shared sender (gwsender.h) what webrtcbin negotiated — SSRC and
 * payload type, the SRTP keys from the DTLS handshake, the socket and remote
 * address ICE selected — or, when that cannot be (a TURN relay, a cipher the
 * sender does not do, shared-sender=false), asks the stream to feed its own
 * path (queue, gate, payloader, webrtcbin), which starts from the stream's
 * kept GOP.
 *
 * Nothing here waits: the keys are known when webrtcbin's DTLS-SRTP encoder
 * says so ("on-key-set"), the connection when webrtcbin notifies it; each of
 * the two calls gw_reader_bin_start_sending, which acts once both are there.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwreaderbin-private.h"

GstPadProbeReturn
gw_reader_bin_on_input_query (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GwStream *stream = gw_stream_accept_attach (GST_PAD_PROBE_INFO_QUERY (info));
  if (!stream)
    return GST_PAD_PROBE_OK;
  Stream *st = static_cast<Stream *> (user_data);
  GST_OBJECT_LOCK (st->self);
  GwStream *old = st->stream;
  st->stream = stream;
  GST_OBJECT_UNLOCK (st->self);
  if (old)
    gw_stream_unref (old);
  GST_DEBUG_OBJECT (st->self, "%s: attached to a stream, fed once connected", st->name);
  return GST_PAD_PROBE_HANDLED;
}

/* Decides, once, whether @st's packets go through its stream's shared
 * sender; returns the mode (SEND_SHARED or SEND_OWN). */
static gint
decide_send (GwReaderBin *self, Stream *st)
{
  gint mode = g_atomic_int_get (&st->send_mode);
  if (mode != SEND_UNDECIDED)
    return mode;
  GST_OBJECT_LOCK (self);
  gboolean wanted = self->shared_sender;
  GwStream *stream = st->stream ? gw_stream_ref (st->stream) : NULL;
  GST_OBJECT_UNLOCK (self);
  GwSender *sender = stream && wanted ? gw_stream_get_sender (stream) : NULL;
  if (stream)
    gw_stream_unref (stream);

  GST_OBJECT_LOCK (self);
  mode = g_atomic_int_get (&st->send_mode);
  if (mode == SEND_UNDECIDED) {
    mode = sender ? SEND_SHARED : SEND_OWN;
    if (mode == SEND_SHARED && !st->sender) {
      st->sender = sender;
      sender = NULL;
    }
    g_atomic_int_set (&st->send_mode, mode);
  }
  GST_OBJECT_UNLOCK (self);
  if (sender)
    gw_sender_unref (sender);
  GST_DEBUG_OBJECT (self, "%s: %s", st->name, mode == SEND_SHARED ? "shared sender" : "own path");
  return mode;
}

/* The nick of enum property @name of @obj, or "" (the SRTP element's cipher
 * and authentication are enums of its own library: we compare their
 * documented names, not their values). */
static const gchar *
enum_nick (GObject *obj, const gchar *name)
{
  GParamSpec *pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (obj), name);
  if (!pspec || !G_IS_PARAM_SPEC_ENUM (pspec))
    return "";
  gint v = 0;
  g_object_get (obj, name, &v, NULL);
  GEnumValue *ev = g_enum_get_value (G_PARAM_SPEC_ENUM (pspec)->enum_class, v);
  return ev ? ev->value_nick : "";
}

/* The SRTP element inside the DTLS-SRTP encoder @encoder: the child that
 * has the keys, known by its properties. A new ref or NULL. */
static GstElement *
srtp_child (GstElement *encoder)
{
  if (!GST_IS_BIN (encoder))
    return NULL;
  GstIterator *it = gst_bin_iterate_elements (GST_BIN (encoder));
  GValue v = G_VALUE_INIT;
  GstElement *found = NULL;
  gboolean done = FALSE;
  while (!done && !found) {
    switch (gst_iterator_next (it, &v)) {
    case GST_ITERATOR_OK: {
      GstElement *e = GST_ELEMENT (g_value_get_object (&v));
      GObjectClass *klass = G_OBJECT_GET_CLASS (e);
      if (g_object_class_find_property (klass, "key")
          && g_object_class_find_property (klass, "rtp-cipher")
          && g_object_class_find_property (klass, "rtp-auth"))
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

/* The SRTP master key and salt the DTLS handshake gave @encoder, and the
 * authentication tag length. */
static gboolean
srtp_keys (GstElement *encoder, GstBuffer **key, gboolean *auth_80, GError **error)
{
  g_autoptr (GstElement) srtp = srtp_child (encoder);
  const gchar *cipher = "", *auth = "";
  if (srtp) {
    g_object_get (srtp, "key", key, NULL);
    cipher = enum_nick (G_OBJECT (srtp), "rtp-cipher");
    auth = enum_nick (G_OBJECT (srtp), "rtp-auth");
  }
  gboolean auth_ok = g_str_equal (auth, "hmac-sha1-80") || g_str_equal (auth, "hmac-sha1-32");
  if (!*key || !g_str_equal (cipher, "aes-128-icm") || !auth_ok) {
    g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_STATE,
                 "no AES-128 SRTP keys (cipher '%s', auth '%s')", cipher, auth);
    return FALSE;
  }
  *auth_80 = g_str_equal (auth, "hmac-sha1-80");
  return TRUE;
}

/* Registers @st with @sender; FALSE with @error if it cannot be shared. */
static gboolean
register_shared (GwReaderBin *self, Stream *st, GwSender *sender, GstElement *encoder,
                 GError **error)
{
  const GstStructure *s = gst_caps_get_structure (st->rtp_caps, 0);
  guint ssrc = 0;
  gint pt = -1;
  if (!gst_structure_get_uint (s, "ssrc", &ssrc) || !gst_structure_get_int (s, "payload", &pt)) {
    g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_STATE, "no SSRC or payload type");
    return FALSE;
  }
  GwSenderViewer v = {};
  v.ssrc = ssrc;
  v.pt = pt;
  g_autoptr (GstBuffer) key = NULL;
  if (!srtp_keys (encoder, &key, &v.auth_80, error))
    return FALSE;
  struct sockaddr_storage addr = {};
  if (!gw_reader_bin_selected_pair (self, st->webrtc_pad, &v.fd, &addr, &v.remote_len, error))
    return FALSE;
  v.remote = (const struct sockaddr *)&addr;

  GstMapInfo map;
  if (!gst_buffer_map (key, &map, GST_MAP_READ)) {
    g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_STATE, "unreadable SRTP key");
    return FALSE;
  }
  v.key = map.data;
  v.key_len = map.size;
  guint id = gw_sender_add (sender, &v, error);
  gst_buffer_unmap (key, &map);
  if (!id)
    return FALSE;
  GST_OBJECT_LOCK (self);
  st->sender_id = id;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

/* Our own path sends @st from now on: its gate waits for the keyframe the
 * stream gives first, then the stream feeds it. Once. */
static void
start_own (GwReaderBin *self, Stream *st)
{
  if (!g_atomic_int_compare_and_exchange (&st->fed, 0, 1))
    return;
  gw_keyframe_gate_set_mode (GW_KEYFRAME_GATE (st->gate), GW_GATE_WAITING);
  GST_OBJECT_LOCK (self);
  GwStream *stream = st->stream ? gw_stream_ref (st->stream) : NULL;
  GST_OBJECT_UNLOCK (self);
  if (stream) {
    if (!gw_stream_feed (stream, st->ghost))
      GST_WARNING_OBJECT (self, "%s: the stream cannot feed us", st->name);
    gw_stream_unref (stream);
  }
  GST_INFO_OBJECT (self, "%s: sent by our own path", st->name);
}

void
gw_reader_bin_start_sending (GwReaderBin *self)
{
  GST_OBJECT_LOCK (self);
  gboolean connected = self->connection_state == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED;
  GstElement *encoder
      = self->keyed_encoder ? GST_ELEMENT (gst_object_ref (self->keyed_encoder)) : NULL;
  guint n = self->streams->len;
  g_autofree Stream **streams = g_new0 (Stream *, n);
  for (guint i = 0; i < n; i++)
    streams[i] = static_cast<Stream *> (g_ptr_array_index (self->streams, i));
  GST_OBJECT_UNLOCK (self);
  g_autoptr (GstElement) keyed = encoder;
  if (!connected)
    return;

  for (guint i = 0; i < n; i++) {
    Stream *st = streams[i];
    if (!st->pay)
      continue; /* not part of the session */
    if (decide_send (self, st) == SEND_SHARED) {
      if (!keyed) {
        GST_DEBUG_OBJECT (self, "%s: connected, waiting for the SRTP keys", st->name);
        continue; /* gw_reader_bin_on_key_set calls again */
      }
      if (!g_atomic_int_compare_and_exchange (&st->registering, 0, 1))
        continue;
      GST_OBJECT_LOCK (self);
      GwSender *sender = st->sender ? gw_sender_ref (st->sender) : NULL;
      GST_OBJECT_UNLOCK (self);
      GError *err = NULL;
      gboolean ok = sender && register_shared (self, st, sender, keyed, &err);
      if (sender)
        gw_sender_unref (sender);
      if (ok) {
        GST_INFO_OBJECT (self, "%s: sent by the shared sender", st->name);
        continue;
      }
      GST_WARNING_OBJECT (self, "%s: not shared (%s), sending it ourselves", st->name,
                          err ? err->message : "no sender");
      g_clear_error (&err);
      g_atomic_int_set (&st->send_mode, SEND_OWN);
    }
    start_own (self, st);
  }
}

void
gw_reader_bin_on_key_set (GstElement *encoder, gpointer weak_self)
{
  GwReaderBin *self = GW_READER_BIN (g_weak_ref_get (static_cast<GWeakRef *> (weak_self)));
  if (!self)
    return;
  GST_DEBUG_OBJECT (self, "SRTP keys set on %" GST_PTR_FORMAT, encoder);
  GST_OBJECT_LOCK (self);
  gst_object_replace ((GstObject **)&self->keyed_encoder, GST_OBJECT (encoder));
  GST_OBJECT_UNLOCK (self);
  gw_reader_bin_start_sending (self);
  gst_object_unref (self);
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
