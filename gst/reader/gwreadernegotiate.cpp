/* gwreadernegotiate: how a gwreaderbin negotiates its session. The
 * payloaders configured from the SDP, the answer flow (WHEP: remote offer in,
 * answer with the gathered candidates out), the offer flow (websocket: our
 * offer out, remote answer in), and the action signals that start them.
 * The element itself is in gwreaderbin.cpp; shared declarations and the
 * locking rules in gwreaderbin-private.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwreaderbin-private.h"

/* ---------------------------------------------------------------- errors */

static void
reply_caller (GwReaderBin *self, GstStructure *s)
{
  GST_OBJECT_LOCK (self);
  GstPromise *promise = self->promise;
  self->promise = NULL;
  GST_OBJECT_UNLOCK (self);
  if (promise) {
    gst_promise_reply (promise, s);
    gst_promise_unref (promise);
  } else if (s) {
    gst_structure_free (s);
  }
}

/* Fails the negotiation in progress: replies the caller's promise with
 * @error (taken). */
static void
fail_negotiation (GwReaderBin *self, const gchar *reply_name, GError *error)
{
  GST_WARNING_OBJECT (self, "negotiation failed: %s", error->message);
  GST_OBJECT_LOCK (self);
  self->neg = NEG_FAILED;
  GST_OBJECT_UNLOCK (self);
  if (g_atomic_int_compare_and_exchange (&self->answered, 0, 1))
    reply_caller (self, gst_structure_new (reply_name, "error", G_TYPE_ERROR, error, NULL));
  g_error_free (error);
}

static const gchar *
reply_name (GwReaderBin *self)
{
  return self->offerer ? "gw-offer" : "gw-answer";
}

/* The bin left PAUSED: no timer keeps it alive, and a caller still waiting
 * for the answer gets an error now rather than at the time limit. */
void
gw_reader_bin_stop_negotiation (GwReaderBin *self)
{
  gw_reader_bin_cancel_timer (self);
  GST_OBJECT_LOCK (self);
  gboolean pending = self->neg == NEG_WAIT_CAPS || self->neg == NEG_RUNNING;
  GST_OBJECT_UNLOCK (self);
  if (pending)
    fail_negotiation (self, reply_name (self),
                      g_error_new (GW_READER_ERROR, GW_READER_ERROR_STATE,
                                   "the reader stopped before the answer"));
}

/* The reasons given so far for streams left out, as a new string array;
 * NULL if none. With the object lock. */
static GStrv
dropped_copy (GwReaderBin *self)
{
  if (self->dropped->len == 0)
    return NULL;
  GStrv out = g_new0 (gchar *, self->dropped->len + 1);
  for (guint i = 0; i < self->dropped->len; i++)
    out[i] = g_strdup (static_cast<const gchar *> (g_ptr_array_index (self->dropped, i)));
  return out;
}

/* ---------------------------------------------------------------- webrtcbin calls */

/* A call made on webrtcbin: its reply goes to func (data), then it is
 * counted as answered. */
typedef struct
{
  GwReaderBin *self; /* borrowed: the reader releases its calls before it goes */
  GstPromiseChangeFunc func;
  gpointer data;
  GDestroyNotify notify;
} Call;

static void
call_free (gpointer user_data)
{
  Call *c = static_cast<Call *> (user_data);
  if (!c) /* expired: call_done freed it */
    return;
  if (c->notify)
    c->notify (c->data);
  g_free (c);
}

static void
call_done (GstPromise *promise, gpointer user_data)
{
  Call *c = static_cast<Call *> (user_data);
  GwReaderBin *self = c->self;
  c->func (promise, c->data);
  GST_OBJECT_LOCK (self);
  if (--self->calls_pending == 0)
    g_cond_broadcast (&self->calls_cond);
  GST_OBJECT_UNLOCK (self);
  /* An expired promise forgets its data before it calls here, and is
   * freed with none: free it now. (Not pending: this does not wait.) */
  if (gst_promise_wait (promise) != GST_PROMISE_RESULT_REPLIED)
    call_free (c);
}

/* Emits @signal (an action taking an argument and a promise) on webrtcbin
 * with a promise whose reply goes to @func. The reader keeps a ref on each
 * such promise until webrtcbin has stopped (gw_reader_bin_release_calls):
 * a closing webrtcbin may drop a queued call without replying, and its
 * promise must then be expired, not freed pending. Once the reader stops
 * (gw_reader_bin_close_calls), a call is not made: it expires at once. */
static void
webrtc_call (GwReaderBin *self, const gchar *signal, gpointer arg, GstPromiseChangeFunc func,
             gpointer data, GDestroyNotify notify)
{
  Call *c = g_new0 (Call, 1);
  c->self = self;
  c->func = func;
  c->data = data;
  c->notify = notify;
  GstPromise *p = gst_promise_new_with_change_func (call_done, c, call_free);
  GST_OBJECT_LOCK (self);
  gboolean closed = self->calls_closed;
  self->calls_pending++;
  if (!closed) {
    g_ptr_array_add (self->calls, gst_promise_ref (p));
    self->calls_emitting++;
  }
  GST_OBJECT_UNLOCK (self);
  if (closed) {
    gst_promise_expire (p);
  } else {
    g_signal_emit_by_name (self->webrtcbin, signal, arg, p);
    GST_OBJECT_LOCK (self);
    if (--self->calls_emitting == 0)
      g_cond_broadcast (&self->calls_cond);
    GST_OBJECT_UNLOCK (self);
  }
  gst_promise_unref (p);
}

gboolean
gw_reader_bin_close_calls (GwReaderBin *self, gint64 timeout_us)
{
  gint64 end = g_get_monotonic_time () + timeout_us;
  GST_OBJECT_LOCK (self);
  self->calls_closed = TRUE;
  while (self->calls_pending > 0
         && g_cond_wait_until (&self->calls_cond, GST_OBJECT_GET_LOCK (self), end))
    ;
  gboolean answered = self->calls_pending == 0;
  GST_OBJECT_UNLOCK (self);
  return answered;
}

void
gw_reader_bin_release_calls (GwReaderBin *self)
{
  GST_OBJECT_LOCK (self);
  self->calls_closed = TRUE;
  /* A call being made now gets its reply (or error) before it returns. */
  while (self->calls_emitting > 0)
    g_cond_wait (&self->calls_cond, GST_OBJECT_GET_LOCK (self));
  GPtrArray *calls = self->calls;
  self->calls = g_ptr_array_new ();
  GST_OBJECT_UNLOCK (self);
  for (guint i = 0; i < calls->len; i++) {
    GstPromise *p = static_cast<GstPromise *> (g_ptr_array_index (calls, i));
    gst_promise_expire (p); /* nothing if it was replied */
    gst_promise_unref (p);
  }
  g_ptr_array_unref (calls);
}

/* ---------------------------------------------------------------- timers */

void
gw_reader_bin_cancel_timer (GwReaderBin *self)
{
  GST_OBJECT_LOCK (self);
  GstClockID id = self->timer;
  self->timer = NULL;
  GST_OBJECT_UNLOCK (self);
  if (id) {
    gst_clock_id_unschedule (id);
    gst_clock_id_unref (id);
  }
}

/* Schedules @func on a GStreamer helper thread after @ms milliseconds; the
 * pending callback holds a ref on @self. */
static void
start_timer (GwReaderBin *self, guint ms, GstClockCallback func)
{
  gw_reader_bin_cancel_timer (self);
  GstClock *clock = gst_system_clock_obtain ();
  GstClockID id
      = gst_clock_new_single_shot_id (clock, gst_clock_get_time (clock) + ms * GST_MSECOND);
  gst_object_unref (clock);
  GST_OBJECT_LOCK (self);
  self->timer = gst_clock_id_ref (id);
  GST_OBJECT_UNLOCK (self);
  gst_clock_id_wait_async (id, func, gst_object_ref (self), gst_object_unref);
  gst_clock_id_unref (id);
}

/* ---------------------------------------------------------------- payloading */

/* Keeps what the payloader sends in line with the negotiated SDP: its caps
 * get the payload type and fmtp fields of the answer (H.264: its
 * profile-level-id), and its question "what does downstream accept" is
 * answered without those fields, so any profile the camera sends can be
 * payloaded under the one the browser offered (the codec's SDP rules
 * decided it fits). */
/* Answers the caps @query with @caps, within the query's filter if any. */
static void
answer_caps_query (GstQuery *query, GstCaps *caps)
{
  GstCaps *filter = NULL;
  gst_query_parse_caps (query, &filter);
  GstCaps *result = filter ? gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST)
                           : gst_caps_ref (caps);
  gst_query_set_caps_result (query, result);
  gst_caps_unref (result);
}

static GstPadProbeReturn
on_pay_src (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Stream *st = static_cast<Stream *> (user_data);

  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
    if (GST_EVENT_TYPE (event) != GST_EVENT_CAPS)
      return GST_PAD_PROBE_OK;
    GstCaps *caps;
    gst_event_parse_caps (event, &caps);
    GstCaps *fixed = gst_caps_copy (caps);
    GstStructure *out = gst_caps_get_structure (fixed, 0);
    const GstStructure *want = gst_caps_get_structure (st->rtp_caps, 0);
    for (gint i = 0; i < gst_structure_n_fields (want); i++) {
      const gchar *field = gst_structure_nth_field_name (want, i);
      gst_structure_set_value (out, field, gst_structure_get_value (want, field));
    }
    gst_event_unref (event);
    info->data = gst_event_new_caps (fixed);
    gst_caps_unref (fixed);
    return GST_PAD_PROBE_OK;
  }

  if (info->type & GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM) {
    GstQuery *query = GST_PAD_PROBE_INFO_QUERY (info);
    if (GST_QUERY_TYPE (query) != GST_QUERY_CAPS)
      return GST_PAD_PROBE_OK;
    GstCaps *loose = gst_caps_copy (st->rtp_caps);
    /* Without the codec's fmtp fields, and without the payload type too: a
     * static or low type the offer chose (e.g. 41 for High 4:4:4) is
     * outside the payloaders' 96-127 template, and the caps event above
     * sets it anyway. */
    GstStructure *ls = gst_caps_get_structure (loose, 0);
    gst_structure_remove_fields (ls, "payload", "ssrc", NULL);
    const GwCodecInfo *codec = gw_codec_from_rtp_caps (st->rtp_caps);
    if (codec && codec->sdp && codec->sdp->rtp_fields)
      for (guint i = 0; codec->sdp->rtp_fields[i]; i++)
        gst_structure_remove_field (ls, codec->sdp->rtp_fields[i]);
    answer_caps_query (query, loose);
    gst_caps_unref (loose);
    return GST_PAD_PROBE_HANDLED;
  }

  if (info->type & GST_PAD_PROBE_TYPE_QUERY_UPSTREAM) {
    /* webrtcbin asking what this pad sends, to match it with the offer
     * when it answers: the agreed caps, not the payloader's template (whose
     * 96-127 payload range would hide a low type the offer chose, and the
     * answer would then not send on that m-line). */
    GstQuery *query = GST_PAD_PROBE_INFO_QUERY (info);
    if (GST_QUERY_TYPE (query) != GST_QUERY_CAPS)
      return GST_PAD_PROBE_OK;
    answer_caps_query (query, st->rtp_caps);
    return GST_PAD_PROBE_HANDLED;
  }
  return GST_PAD_PROBE_OK;
}

/* Adds the payloader of @st and links it to a new webrtcbin pad whose
 * transceiver sends @rtp_caps only. Not on a streaming thread. */
static gboolean
add_send_path (GwReaderBin *self, Stream *st, const GwStreamFormat *format, guint pt,
               GstCaps *rtp_caps, GError **error)
{
  GstElement *pay = gw_codec_make_payloader (gw_codec_info (format->codec), pt);
  /* A fixed SSRC, announced in the SDP (a=ssrc): browsers without the mid
   * header extension route packets to the track by it. */
  guint ssrc = g_random_int ();
  rtp_caps = gst_caps_copy (rtp_caps);
  gst_caps_set_simple (rtp_caps, "ssrc", G_TYPE_UINT, ssrc, NULL);
  g_autoptr (GstCaps) owned_caps = rtp_caps;
  if (pay)
    g_object_set (pay, "ssrc", ssrc, NULL);
  if (!pay) {
    g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_NEGOTIATION, "no payloader for stream %s",
                 st->name);
    return FALSE;
  }

  GstPad *wpad = gst_element_request_pad_simple (self->webrtcbin, "sink_%u");
  if (!wpad) {
    gst_object_unref (gst_object_ref_sink (pay));
    g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_NEGOTIATION,
                 "webrtcbin refused a send pad (are the nice and dtls plugins installed?)");
    return FALSE;
  }
  GstWebRTCRTPTransceiver *trans = NULL;
  g_object_get (wpad, "transceiver", &trans, NULL);
  if (trans) {
    g_object_set (trans, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY,
                  "codec-preferences", rtp_caps, NULL);
    gst_object_unref (trans);
  }

  GST_OBJECT_LOCK (self);
  st->rtp_caps = gst_caps_ref (rtp_caps);
  st->webrtc_pad = wpad;
  st->pay = GST_ELEMENT (gst_object_ref (pay));
  GST_OBJECT_UNLOCK (self);

  gst_bin_add (GST_BIN (self), pay);
  g_autoptr (GstPad) pay_src = gst_element_get_static_pad (pay, "src");
  gst_pad_add_probe (
      pay_src,
      (GstPadProbeType)(GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM | GST_PAD_PROBE_TYPE_QUERY_BOTH),
      on_pay_src, st, NULL);
  /* No caps check at link time: the payloader's template allows only
   * dynamic payload types, the probe above makes its caps what was agreed. */
  if (GST_PAD_LINK_FAILED (gst_pad_link_full (pay_src, wpad, GST_PAD_LINK_CHECK_NOTHING))
      || !gst_element_link (st->gate, pay)) {
    g_set_error (error, GW_READER_ERROR, GW_READER_ERROR_NEGOTIATION,
                 "cannot link the payloader of %s", st->name);
    return FALSE;
  }
  gst_element_sync_state_with_parent (pay);
  GST_DEBUG_OBJECT (self, "%s sent as %" GST_PTR_FORMAT, st->name, rtp_caps);
  return TRUE;
}

/* ---------------------------------------------------------------- answer */

static void
finish_answer (GwReaderBin *self)
{
  gw_reader_bin_cancel_timer (self);
  if (!g_atomic_int_compare_and_exchange (&self->answered, 0, 1))
    return;

  GstWebRTCSessionDescription *local = NULL;
  g_object_get (self->webrtcbin, "local-description", &local, NULL);
  if (!local) {
    g_atomic_int_set (&self->answered, 0);
    fail_negotiation (
        self, "gw-answer",
        g_error_new (GW_READER_ERROR, GW_READER_ERROR_NEGOTIATION, "no local description"));
    return;
  }
  gchar *text = gst_sdp_message_as_text (local->sdp);
  gst_webrtc_session_description_free (local);

  GstStructure *reply = gst_structure_new ("gw-answer", "sdp", G_TYPE_STRING, text, NULL);
  GST_OBJECT_LOCK (self);
  self->neg = NEG_DONE;
  g_auto (GStrv) dropped = dropped_copy (self);
  GST_OBJECT_UNLOCK (self);
  if (dropped)
    gst_structure_set (reply, "dropped", G_TYPE_STRV, dropped, NULL);
  GST_DEBUG_OBJECT (self, "answer ready");
  reply_caller (self, reply);
  g_free (text);
}

static gboolean
gather_timeout_cb (GstClock *clock, GstClockTime time, GstClockID id, gpointer user_data)
{
  GwReaderBin *self = GW_READER_BIN (user_data);
  GST_INFO_OBJECT (self, "ICE gathering not complete in time, answering with what we have");
  finish_answer (self);
  return TRUE;
}

void
gw_reader_bin_on_gathering_state (GstElement *webrtc, GParamSpec *pspec, GwReaderBin *self)
{
  GstWebRTCICEGatheringState state;
  g_object_get (webrtc, "ice-gathering-state", &state, NULL);
  gboolean answering;
  GST_OBJECT_LOCK (self);
  answering = !self->offerer && self->neg == NEG_RUNNING;
  GST_OBJECT_UNLOCK (self);
  if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE && answering)
    finish_answer (self);
}

/* A webrtcbin promise reply, or an error built from it. */
static GError *
promise_error (GstPromise *promise, const gchar *what)
{
  if (gst_promise_wait (promise) != GST_PROMISE_RESULT_REPLIED)
    return g_error_new (GW_READER_ERROR, GW_READER_ERROR_NEGOTIATION, "%s: interrupted", what);
  const GstStructure *reply = gst_promise_get_reply (promise);
  GError *err = NULL;
  if (reply && gst_structure_has_field (reply, "error")) {
    gst_structure_get (reply, "error", G_TYPE_ERROR, &err, NULL);
    GError *out = g_error_new (GW_READER_ERROR, GW_READER_ERROR_NEGOTIATION, "%s: %s", what,
                               err ? err->message : "unknown error");
    g_clear_error (&err);
    return out;
  }
  return NULL;
}

/* The description (@field: "offer" or "answer") from webrtcbin's reply to
 * create-offer/create-answer. NULL with @error on failure. */
static GstWebRTCSessionDescription *
take_description (GstPromise *promise, const gchar *field, GError **error)
{
  g_autofree gchar *what = g_strdup_printf ("creating the %s", field);
  GError *err = promise_error (promise, what);
  GstWebRTCSessionDescription *desc = NULL;
  if (!err)
    gst_structure_get (gst_promise_get_reply (promise), field, GST_TYPE_WEBRTC_SESSION_DESCRIPTION,
                       &desc, NULL);
  if (!err && !desc)
    err = g_error_new (GW_READER_ERROR, GW_READER_ERROR_NEGOTIATION, "%s gave nothing", what);
  if (err)
    g_propagate_error (error, err);
  return desc;
}

static void
on_local_answer_set (GstPromise *promise, gpointer user_data)
{
  GwReaderBin *self = GW_READER_BIN (user_data);
  GError *err = promise_error (promise, "setting the answer");
  if (err) {
    fail_negotiation (self, "gw-answer", err);
    return;
  }
  GstWebRTCICEGatheringState state;
  g_object_get (self->webrtcbin, "ice-gathering-state", &state, NULL);
  if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) {
    finish_answer (self);
    return;
  }
  GST_OBJECT_LOCK (self);
  guint ms = self->gather_timeout;
  GST_OBJECT_UNLOCK (self);
  start_timer (self, ms, gather_timeout_cb);
}

/* ---------------------------------------------------------------- dropped streams */

/* For people: the streams of @formats, e.g. "video H.264 (...) and audio
 * Opus". */
static gchar *
describe_inputs (const GwStreamFormat *formats, guint n)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < n; i++) {
    g_autofree gchar *codec = gw_sdp_describe_stream (&formats[i]);
    g_string_append_printf (s, "%s%s %s", i == 0 ? "" : (i + 1 == n ? " and " : ", "),
                            formats[i].video ? "video" : "audio", codec);
  }
  return g_string_free (s, FALSE);
}

/* Remembers that @st is left out of the answer, and why; warns. */
static void
drop_stream (GwReaderBin *self, Stream *st, const GwStreamFormat *format, const gchar *why)
{
  g_autofree gchar *codec = gw_sdp_describe_stream (format);
  gchar *text = g_strdup_printf ("%s (%s %s) is not sent: %s", st->name,
                                 format->video ? "video" : "audio", codec, why);
  GST_WARNING_OBJECT (self, "%s", text);
  GST_OBJECT_LOCK (self);
  g_ptr_array_add (self->dropped, text);
  GST_OBJECT_UNLOCK (self);
}

/* Whether m-line @index of @answer sends: a send direction, and not refused
 * (port 0 only when bundle-only). */
static gboolean
answer_mline_sends (GstWebRTCSessionDescription *answer, guint index)
{
  if (index >= gst_sdp_message_medias_len (answer->sdp))
    return FALSE;
  const GstSDPMedia *m = gst_sdp_message_get_media (answer->sdp, index);
  return (gst_sdp_media_get_port (m) != 0 || gw_sdp_media_is_bundle_only (answer->sdp, index))
         && (gst_sdp_media_get_attribute_val (m, "sendonly")
             || gst_sdp_media_get_attribute_val (m, "sendrecv"));
}

/* Checks that webrtcbin's answer sends every stream the offer placed; the
 * others are dropped with a warning. Whether it sends any. */
static gboolean
answer_sends (GwReaderBin *self, GstWebRTCSessionDescription *answer)
{
  GST_OBJECT_LOCK (self);
  guint n = self->streams->len;
  g_autofree Stream **streams = g_new0 (Stream *, n);
  for (guint i = 0; i < n; i++)
    streams[i] = static_cast<Stream *> (g_ptr_array_index (self->streams, i));
  GST_OBJECT_UNLOCK (self);

  gboolean any = FALSE;
  for (guint i = 0; i < n; i++) {
    GST_OBJECT_LOCK (self);
    gboolean placed = streams[i]->placed;
    guint mline = streams[i]->mline;
    GstCaps *caps = streams[i]->caps ? gst_caps_ref (streams[i]->caps) : NULL;
    GST_OBJECT_UNLOCK (self);
    if (!placed)
      continue;
    if (answer_mline_sends (answer, mline)) {
      any = TRUE;
    } else {
      GwStreamFormat format;
      if (caps && gw_stream_format_from_caps (caps, &format)) {
        g_autofree gchar *why
            = g_strdup_printf ("webrtcbin's answer does not send on m-line %u", mline);
        drop_stream (self, streams[i], &format, why);
      }
    }
    if (caps)
      gst_caps_unref (caps);
  }
  return any;
}

static void
on_answer_created (GstPromise *promise, gpointer user_data)
{
  GwReaderBin *self = GW_READER_BIN (user_data);
  GError *err = NULL;
  GstWebRTCSessionDescription *answer = take_description (promise, "answer", &err);
  if (err) {
    fail_negotiation (self, "gw-answer", err);
    return;
  }
  if (!answer || !answer_sends (self, answer)) {
    if (answer)
      gst_webrtc_session_description_free (answer);
    GST_OBJECT_LOCK (self);
    g_auto (GStrv) dropped = dropped_copy (self);
    GST_OBJECT_UNLOCK (self);
    g_autofree gchar *why = dropped ? g_strjoinv ("; ", dropped) : g_strdup ("");
    fail_negotiation (self, "gw-answer",
                      g_error_new (GW_READER_ERROR, GW_READER_ERROR_NO_COMMON_CODEC,
                                   "the answer would send no media: %s", why));
    return;
  }
  webrtc_call (self, "set-local-description", answer, on_local_answer_set, gst_object_ref (self),
               gst_object_unref);
  gst_webrtc_session_description_free (answer);
}

static void
on_remote_offer_set (GstPromise *promise, gpointer user_data)
{
  GwReaderBin *self = GW_READER_BIN (user_data);
  GError *err = promise_error (promise, "applying the offer");
  if (err) {
    fail_negotiation (self, "gw-answer", err);
    return;
  }
  webrtc_call (self, "create-answer", NULL, on_answer_created, gst_object_ref (self),
               gst_object_unref);
}

/* ---------------------------------------------------------------- offer */

static void
on_local_offer_set (GstPromise *promise, gpointer user_data)
{
  GwReaderBin *self = GW_READER_BIN (user_data);
  GError *err = promise_error (promise, "setting the offer");
  if (err) {
    fail_negotiation (self, "gw-offer", err);
    return;
  }
  GstWebRTCSessionDescription *local = NULL;
  g_object_get (self->webrtcbin, "local-description", &local, NULL);
  if (!local) {
    fail_negotiation (
        self, "gw-offer",
        g_error_new (GW_READER_ERROR, GW_READER_ERROR_NEGOTIATION, "no local description"));
    return;
  }
  gchar *text = gst_sdp_message_as_text (local->sdp);
  gst_webrtc_session_description_free (local);
  if (g_atomic_int_compare_and_exchange (&self->answered, 0, 1))
    reply_caller (self, gst_structure_new ("gw-offer", "sdp", G_TYPE_STRING, text, NULL));
  g_free (text);
}

static void
on_offer_created (GstPromise *promise, gpointer user_data)
{
  GwReaderBin *self = GW_READER_BIN (user_data);
  GError *err = NULL;
  GstWebRTCSessionDescription *offer = take_description (promise, "offer", &err);
  if (err) {
    fail_negotiation (self, "gw-offer", err);
    return;
  }
  webrtc_call (self, "set-local-description", offer, on_local_offer_set, gst_object_ref (self),
               gst_object_unref);
  gst_webrtc_session_description_free (offer);
}

/* ---------------------------------------------------------------- negotiation */

static gboolean
caps_timeout_cb (GstClock *clock, GstClockTime time, GstClockID id, gpointer user_data)
{
  GwReaderBin *self = GW_READER_BIN (user_data);
  GST_OBJECT_LOCK (self);
  gboolean waiting = self->neg == NEG_WAIT_CAPS;
  GST_OBJECT_UNLOCK (self);
  if (waiting)
    fail_negotiation (self, reply_name (self),
                      g_error_new (GW_READER_ERROR, GW_READER_ERROR_NEGOTIATION,
                                   "the stream did not start in time (no caps)"));
  return TRUE;
}

/* Runs once every input has caps: builds the send paths and drives webrtcbin.
 * Never on a streaming thread. */
void
gw_reader_bin_try_negotiate (GwReaderBin *self)
{
  GST_OBJECT_LOCK (self);
  if (self->neg != NEG_WAIT_CAPS) {
    GST_OBJECT_UNLOCK (self);
    return;
  }
  guint n = self->streams->len;
  for (guint i = 0; i < n; i++) {
    if (!static_cast<Stream *> (g_ptr_array_index (self->streams, i))->caps) {
      GST_OBJECT_UNLOCK (self);
      return; /* on_input_event calls again */
    }
  }
  if (n == 0) {
    GST_OBJECT_UNLOCK (self);
    return;
  }
  self->neg = NEG_RUNNING;
  gboolean offerer = self->offerer;
  GstSDPMessage *offer = self->pending_offer;
  self->pending_offer = NULL;
  /* Snapshot the streams (they only go away with the element). */
  g_autofree Stream **streams = g_new0 (Stream *, n);
  g_autofree GwStreamFormat *formats = g_new0 (GwStreamFormat, n);
  g_autofree GwOfferChoice *choices = g_new0 (GwOfferChoice, n);
  g_autofree gboolean *chosen = g_new0 (gboolean, n);
  gboolean formats_ok = TRUE;
  for (guint i = 0; i < n; i++) {
    streams[i] = static_cast<Stream *> (g_ptr_array_index (self->streams, i));
    formats_ok &= gw_stream_format_from_caps (streams[i]->caps, &formats[i]);
  }
  GST_OBJECT_UNLOCK (self);
  gw_reader_bin_cancel_timer (self);

  const gchar *rname = offerer ? "gw-offer" : "gw-answer";
  if (!formats_ok) {
    if (offer)
      gst_sdp_message_free (offer);
    fail_negotiation (self, rname,
                      g_error_new (GW_READER_ERROR, GW_READER_ERROR_NEGOTIATION,
                                   "an input stream has caps we cannot send"));
    return;
  }

  guint placed = n;
  if (offerer) {
    for (guint i = 0; i < n; i++)
      chosen[i] = TRUE;
  } else {
    placed = gw_sdp_choose (offer, formats, n, choices, chosen);
  }
  if (placed == 0) {
    g_autofree gchar *ours = describe_inputs (formats, n);
    g_autofree gchar *video = gw_sdp_describe_offer (offer, TRUE);
    g_autofree gchar *audio = gw_sdp_describe_offer (offer, FALSE);
    gst_sdp_message_free (offer);
    fail_negotiation (self, rname,
                      g_error_new (GW_READER_ERROR, GW_READER_ERROR_NO_COMMON_CODEC,
                                   "no common codec: the stream has %s; the offer takes video: "
                                   "%s; audio: %s",
                                   ours, video, audio));
    return;
  }
  if (!offerer) {
    for (guint i = 0; i < n; i++) {
      GST_OBJECT_LOCK (self);
      streams[i]->placed = chosen[i];
      streams[i]->mline = chosen[i] ? choices[i].mline : 0;
      GST_OBJECT_UNLOCK (self);
      if (chosen[i])
        continue;
      g_autofree gchar *takes = gw_sdp_describe_offer (offer, formats[i].video);
      const gchar *kind = formats[i].video ? "video" : "audio";
      g_autofree gchar *why = g_strdup_printf (
          "no %s m-line of the offer is left that takes it; the offer's %s codecs: %s", kind, kind,
          takes);
      drop_stream (self, streams[i], &formats[i], why);
    }
  }

  gw_reader_bin_apply_ice_config (self);

  /* Not while the bin changes state (structure_lock), nor once it stopped. */
  GError *err = NULL;
  g_mutex_lock (&self->structure_lock);
  if (self->stopping)
    err = g_error_new (GW_READER_ERROR, GW_READER_ERROR_STATE, "the reader is stopping");
  for (guint i = 0; i < n && !err; i++) {
    if (!chosen[i])
      continue;
    guint pt = offerer ? gw_sdp_default_pt (&formats[i]) : choices[i].pt;
    g_autoptr (GstCaps) rtp_caps = gw_sdp_rtp_caps (
        &formats[i], pt,
        offerer || !choices[i].profile_level_id[0] ? NULL : choices[i].profile_level_id);
    add_send_path (self, streams[i], &formats[i], pt, rtp_caps, &err);
  }
  g_mutex_unlock (&self->structure_lock);
  if (err) {
    if (offer)
      gst_sdp_message_free (offer);
    fail_negotiation (self, rname, err);
    return;
  }

  if (offerer) {
    webrtc_call (self, "create-offer", NULL, on_offer_created, gst_object_ref (self),
                 gst_object_unref);
    return;
  }

  GstWebRTCSessionDescription *desc
      = gst_webrtc_session_description_new (GST_WEBRTC_SDP_TYPE_OFFER, offer);
  webrtc_call (self, "set-remote-description", desc, on_remote_offer_set, gst_object_ref (self),
               gst_object_unref);
  gst_webrtc_session_description_free (desc);
}

/* Common start of both flows: remembers the caller's promise, then negotiates
 * now or once the inputs have caps. */
static void
begin (GwReaderBin *self, gboolean offerer, GstSDPMessage *offer, GstPromise *promise)
{
  GST_OBJECT_LOCK (self);
  if (self->neg != NEG_IDLE || !self->webrtcbin) {
    GST_OBJECT_UNLOCK (self);
    if (offer)
      gst_sdp_message_free (offer);
    GError *err = g_error_new (
        GW_READER_ERROR, GW_READER_ERROR_STATE, "%s",
        self->webrtcbin
            ? "this reader already has a session"
            : "webrtcbin is missing (install gstreamer1.0-plugins-bad and gstreamer1.0-nice)");
    gst_promise_reply (promise, gst_structure_new (offerer ? "gw-offer" : "gw-answer", "error",
                                                   G_TYPE_ERROR, err, NULL));
    g_error_free (err);
    return;
  }
  if (self->streams->len == 0) {
    GST_OBJECT_UNLOCK (self);
    if (offer)
      gst_sdp_message_free (offer);
    GError *err = g_error_new (GW_READER_ERROR, GW_READER_ERROR_STATE,
                               "request video_%%u/audio_%%u pads before negotiating");
    gst_promise_reply (promise, gst_structure_new (offerer ? "gw-offer" : "gw-answer", "error",
                                                   G_TYPE_ERROR, err, NULL));
    g_error_free (err);
    return;
  }
  self->neg = NEG_WAIT_CAPS;
  self->offerer = offerer;
  self->pending_offer = offer;
  self->promise = gst_promise_ref (promise);
  guint ms = self->caps_timeout;
  GST_OBJECT_UNLOCK (self);

  start_timer (self, ms, caps_timeout_cb);
  gw_reader_bin_try_negotiate (self);
}

void
gw_reader_bin_handle_offer (GwReaderBin *self, const gchar *sdp, GstPromise *promise)
{
  g_return_if_fail (promise != NULL);
  GError *err = NULL;
  GstSDPMessage *offer = gw_sdp_parse (sdp, &err);
  if (!offer) {
    gst_promise_reply (promise, gst_structure_new ("gw-answer", "error", G_TYPE_ERROR, err, NULL));
    g_error_free (err);
    return;
  }
  begin (self, FALSE, offer, promise);
}

void
gw_reader_bin_create_offer (GwReaderBin *self, GstPromise *promise)
{
  g_return_if_fail (promise != NULL);
  begin (self, TRUE, NULL, promise);
}

/* Offer flow: drops, with a warning, each stream whose m-line the remote
 * @answer does not receive (refused, inactive or sendonly). Returns the
 * reasons, NULL when every stream is received. */
static GStrv
check_answer_receives (GwReaderBin *self, const GstSDPMessage *answer)
{
  GST_OBJECT_LOCK (self);
  guint n = self->streams->len;
  g_autofree Stream **streams = g_new0 (Stream *, n);
  for (guint i = 0; i < n; i++)
    streams[i] = static_cast<Stream *> (g_ptr_array_index (self->streams, i));
  GST_OBJECT_UNLOCK (self);

  for (guint i = 0; i < n; i++) {
    GST_OBJECT_LOCK (self);
    GstPad *wpad
        = streams[i]->webrtc_pad ? GST_PAD (gst_object_ref (streams[i]->webrtc_pad)) : NULL;
    GstCaps *caps = streams[i]->caps ? gst_caps_ref (streams[i]->caps) : NULL;
    GST_OBJECT_UNLOCK (self);
    GstWebRTCRTPTransceiver *trans = NULL;
    if (wpad)
      g_object_get (wpad, "transceiver", &trans, NULL);
    guint mline = G_MAXUINT;
    if (trans)
      g_object_get (trans, "mlineindex", &mline, NULL);
    GwStreamFormat format;
    if (mline != G_MAXUINT && !gw_sdp_media_receives (answer, mline) && caps
        && gw_stream_format_from_caps (caps, &format)) {
      g_autofree gchar *why = g_strdup_printf (
          "the answer does not receive on m-line %u (refused, inactive or sendonly)", mline);
      drop_stream (self, streams[i], &format, why);
    }
    gst_clear_object (&trans);
    gst_clear_object (&wpad);
    if (caps)
      gst_caps_unref (caps);
  }

  GST_OBJECT_LOCK (self);
  GStrv dropped = dropped_copy (self);
  GST_OBJECT_UNLOCK (self);
  return dropped;
}

/* A set-answer in progress: its caller, the reader and the answer. */
struct AnswerCall
{
  GstPromise *caller;
  GwReaderBin *self;     /* a ref */
  GstSDPMessage *answer; /* a copy */
};

static void
answer_call_free (gpointer data)
{
  AnswerCall *call = static_cast<AnswerCall *> (data);
  gst_promise_unref (call->caller);
  gst_object_unref (call->self);
  gst_sdp_message_free (call->answer);
  g_free (call);
}

static void
on_remote_answer_set (GstPromise *promise, gpointer user_data)
{
  AnswerCall *call = static_cast<AnswerCall *> (user_data);
  GError *err = promise_error (promise, "applying the answer");
  GstStructure *reply = err ? gst_structure_new ("gw-result", "error", G_TYPE_ERROR, err, NULL)
                            : gst_structure_new_empty ("gw-result");
  /* Only now do the transceivers know their m-lines. */
  g_auto (GStrv) dropped = err ? NULL : check_answer_receives (call->self, call->answer);
  if (dropped)
    gst_structure_set (reply, "dropped", G_TYPE_STRV, dropped, NULL);
  g_clear_error (&err);
  gst_promise_reply (call->caller, reply);
}

void
gw_reader_bin_set_answer (GwReaderBin *self, const gchar *sdp, GstPromise *promise)
{
  g_return_if_fail (promise != NULL);
  GError *err = NULL;
  GST_OBJECT_LOCK (self);
  gboolean ok = self->offerer && self->neg == NEG_RUNNING;
  GST_OBJECT_UNLOCK (self);
  GstSDPMessage *answer = NULL;
  if (!ok)
    err = g_error_new (GW_READER_ERROR, GW_READER_ERROR_STATE,
                       "an answer is only taken after create-offer");
  else
    answer = gw_sdp_parse (sdp, &err);
  if (!answer) {
    gst_promise_reply (promise, gst_structure_new ("gw-result", "error", G_TYPE_ERROR, err, NULL));
    g_error_free (err);
    return;
  }
  GST_OBJECT_LOCK (self);
  self->neg = NEG_DONE;
  GST_OBJECT_UNLOCK (self);
  AnswerCall *call = g_new0 (AnswerCall, 1);
  call->caller = gst_promise_ref (promise);
  call->self = GW_READER_BIN (gst_object_ref (self));
  gst_sdp_message_copy (answer, &call->answer);
  GstWebRTCSessionDescription *desc
      = gst_webrtc_session_description_new (GST_WEBRTC_SDP_TYPE_ANSWER, answer);
  webrtc_call (self, "set-remote-description", desc, on_remote_answer_set, call, answer_call_free);
  gst_webrtc_session_description_free (desc);
}

void
gw_reader_bin_add_ice_candidate (GwReaderBin *self, guint mline, const gchar *candidate)
{
  if (!candidate)
    return;
  const gchar *c = candidate;
  if (g_str_has_prefix (c, "a="))
    c += 2;
  if (*c && !g_str_has_prefix (c, "candidate:")) {
    GST_WARNING_OBJECT (self, "ignoring a remote candidate that is not one");
    return;
  }
  /* webrtcbin takes an empty string as the end of candidates. */
  g_signal_emit_by_name (self->webrtcbin, "add-ice-candidate", mline, c);
}
