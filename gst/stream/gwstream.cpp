/* GwStream: see gwstream.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwstream.h"
#include "gwcodec.h"
#include "gwnal.h"

GST_DEBUG_CATEGORY_STATIC (gw_stream_debug);
#define GST_CAT_DEFAULT gw_stream_debug

#define ATTACH_QUERY "GwStreamAttach"

/* One attached branch pad. */
typedef struct
{
  GstPad *sink;       /* ref */
  GstPad *src;        /* our tee pad once linked (ref), else NULL: events only */
  gboolean primed;    /* events only: the stream's sticky events were sent */
  gboolean linking;   /* gw_stream_feed is linking it, outside the lock */
  gboolean detached;  /* detached while linking: feed finishes the detach */
  GstElement *branch; /* for a detach left to feed, ref */
} Port;

struct _GwStream
{
  gint refs;
  GstElement *tee;  /* borrowed from the bin, plus our own ref */
  GwSender *sender; /* ref */

  /* Lock order: this mutex, then nothing (see gwstream.h). */
  GMutex lock;
  GList *ports;     /* Port*, under the lock */
  guint n_attached; /* under the lock */
  gboolean video;   /* under the lock */
  /* The codec's NAL syntax, NULL if it is not made of NAL units. Under
   * the lock. */
  const GwNalSyntax *nal;
  /* Written by the streaming thread under the lock; read under the lock
   * elsewhere, without it on the streaming thread. */
  GwGop gop;
  /* The last parameter sets seen (with start codes), put in front of a
   * kept keyframe that comes without them. Under the lock. */
  GwParameterSets sets;
};

/* Marks a pad attached to a stream, and a branch whose removal is already
 * scheduled (so a branch fed by several streams is removed once). */
static GQuark attached_quark;
static GQuark removal_quark;

static void
ensure_debug (void)
{
  static gsize once = 0;
  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (gw_stream_debug, "gwstream", 0, "gw stream (tee, GOP, sender)");
    attached_quark = g_quark_from_static_string ("gw-stream-attached");
    removal_quark = g_quark_from_static_string ("gw-stream-removal");
    g_once_init_leave (&once, 1);
  }
}

static void
port_free (Port *p)
{
  gst_object_unref (p->sink);
  if (p->src)
    gst_object_unref (p->src);
  if (p->branch)
    gst_object_unref (p->branch);
  g_free (p);
}

GwStream *
gw_stream_ref (GwStream *stream)
{
  g_atomic_int_inc (&stream->refs);
  return stream;
}

void
gw_stream_unref (GwStream *stream)
{
  if (!g_atomic_int_dec_and_test (&stream->refs))
    return;
  gw_gop_clear (&stream->gop);
  gw_parameter_sets_clear (&stream->sets);
  g_list_free_full (stream->ports, (GDestroyNotify)port_free);
  g_mutex_clear (&stream->lock);
  gw_sender_unref (stream->sender);
  gst_object_unref (stream->tee);
  g_free (stream);
}

void
gw_stream_free (GwStream *stream)
{
  if (stream)
    gw_stream_unref (stream);
}

/* ---------------------------------------------------------------- events only */

/* Called with the pad's object lock held: collects, sends nothing. */
static gboolean
collect_sticky (GstPad *pad, GstEvent **event, gpointer user_data)
{
  GSList **events = static_cast<GSList **> (user_data);
  *events = g_slist_prepend (*events, gst_event_ref (*event));
  return TRUE;
}

/* Streaming thread: gives the branches that are not linked the stream's
 * events, as the tee gives them to its pads: the sticky ones first to a
 * branch that has not had them, then @event (NULL for a buffer). */
static void
forward_to_unlinked (GwStream *s, GstPad *tee_sink, GstEvent *event)
{
  GSList *prime = NULL, *all = NULL;
  g_mutex_lock (&s->lock);
  for (GList *l = s->ports; l; l = l->next) {
    Port *p = static_cast<Port *> (l->data);
    if (p->src || p->linking || p->detached)
      continue;
    if (!p->primed) {
      prime = g_slist_prepend (prime, gst_object_ref (p->sink));
      p->primed = TRUE;
    }
    if (event)
      all = g_slist_prepend (all, gst_object_ref (p->sink));
  }
  g_mutex_unlock (&s->lock);
  if (prime) {
    GSList *sticky = NULL;
    gst_pad_sticky_events_foreach (tee_sink, collect_sticky, &sticky);
    sticky = g_slist_reverse (sticky);
    for (GSList *l = prime; l; l = l->next)
      for (GSList *e = sticky; e; e = e->next)
        gst_pad_send_event (GST_PAD (l->data), gst_event_ref (GST_EVENT (e->data)));
    g_slist_free_full (sticky, (GDestroyNotify)gst_event_unref);
  }
  for (GSList *l = all; l; l = l->next)
    gst_pad_send_event (GST_PAD (l->data), gst_event_ref (event));
  g_slist_free_full (prime, gst_object_unref);
  g_slist_free_full (all, gst_object_unref);
}

/* Tee sink pad: keeps the GOP, feeds the sender and the unlinked branches. */
static GstPadProbeReturn
on_stream_data (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  GwStream *s = static_cast<GwStream *> (data);

  if (info->type & (GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM | GST_PAD_PROBE_TYPE_EVENT_FLUSH)) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
    gw_sender_handle_event (s->sender, event);
    if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS) {
      GstCaps *caps;
      gst_event_parse_caps (event, &caps);
      const GwCodecInfo *codec = gw_codec_from_caps (caps);
      g_mutex_lock (&s->lock);
      s->video = codec && codec->video;
      s->nal = codec ? codec->nal : NULL;
      gw_gop_clear (&s->gop); /* new caps: old frames would not decode */
      g_mutex_unlock (&s->lock);
    } else if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP
               || GST_EVENT_TYPE (event) == GST_EVENT_STREAM_START
               || GST_EVENT_TYPE (event) == GST_EVENT_EOS) {
      g_mutex_lock (&s->lock);
      gw_gop_clear (&s->gop);
      g_mutex_unlock (&s->lock);
    }
    forward_to_unlinked (s, pad, event);
    return GST_PAD_PROBE_OK;
  }

  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  g_mutex_lock (&s->lock);
  if (s->video)
    gw_gop_keep (&s->gop, buf);
  if (s->nal)
    gw_nal_keep_parameter_sets (s->nal, buf, &s->sets);
  g_mutex_unlock (&s->lock);
  forward_to_unlinked (s, pad, NULL);
  /* The shared sender sends to its viewers before the tee feeds the
   * branches: the first thing done with each buffer. Only this thread
   * writes the GOP, so it is read here without the lock. */
  gw_sender_handle_buffer (s->sender, buf, &s->gop);
  return GST_PAD_PROBE_OK;
}

/* ---------------------------------------------------------------- GOP replay */

struct Replay
{
  GwStream *stream;
  gboolean replaying;
};

static void
replay_free (gpointer data)
{
  Replay *r = static_cast<Replay *> (data);
  gw_stream_unref (r->stream);
  g_free (r);
}

/* A new tee src pad, on its first buffer (its sticky events are already
 * sent): pushes the kept GOP first, retimed to end just before that buffer,
 * so the branch starts at a keyframe without delaying the live stream. */
static GstPadProbeReturn
replay_gop (GstPad *src, GstPadProbeInfo *info, gpointer data)
{
  Replay *r = static_cast<Replay *> (data);
  if (r->replaying)
    return GST_PAD_PROBE_OK; /* our own pushes */

  GstBuffer *live = GST_PAD_PROBE_INFO_BUFFER (info);
  GQueue kept = G_QUEUE_INIT;
  g_mutex_lock (&r->stream->lock);
  for (GList *l = r->stream->gop.frames.head; l && l->data != live; l = l->next)
    g_queue_push_tail (&kept, gst_buffer_ref (GST_BUFFER (l->data)));
  const GwNalSyntax *nal = r->stream->nal;
  GwParameterSets sets = {};
  gw_parameter_sets_copy (&sets, &r->stream->sets);
  g_mutex_unlock (&r->stream->lock);

  guint n = kept.length;
  if (n > 0 && GST_BUFFER_FLAG_IS_SET (live, GST_BUFFER_FLAG_DELTA_UNIT)) {
    GST_DEBUG_OBJECT (src, "giving the new branch the %u frames since the last keyframe", n);
    r->replaying = TRUE;
    /* The segment the new pad got still has the position it had when the
     * stream started: a time-leaky queue downstream would take the distance
     * to our first buffer for its fill level and drop that buffer, the
     * keyframe. Send the segment again positioned at the first buffer. */
    g_autoptr (GstEvent) sticky = gst_pad_get_sticky_event (src, GST_EVENT_SEGMENT, 0);
    if (sticky) {
      GstSegment seg;
      gst_event_copy_segment (sticky, &seg);
      GstClockTime first = GST_BUFFER_PTS (GST_BUFFER (g_queue_peek_head (&kept)));
      if (seg.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (first))
        seg.position = gw_gop_retime_time (0, n, GST_BUFFER_PTS (live), first);
      GstEvent *ev = gst_event_new_segment (&seg);
      gst_event_set_seqnum (ev, gst_event_get_seqnum (sticky));
      gst_pad_push_event (src, ev);
    }
    GstFlowReturn ret = GST_FLOW_OK;
    for (guint i = 0; i < n; i++) {
      GstBuffer *buf = static_cast<GstBuffer *> (g_queue_pop_head (&kept));
      if (ret != GST_FLOW_OK) {
        gst_buffer_unref (buf);
        continue;
      }
      buf = gw_gop_retime (buf, i, n, GST_BUFFER_PTS (live));
      if (i == 0 && nal) {
        /* The keyframe, self-contained: its parameter sets may have come
         * before it, outside the GOP. */
        gboolean has_own = gw_nal_keep_parameter_sets (nal, buf, NULL);
        buf = gw_nal_with_parameter_sets (nal, buf, has_own, &sets);
      }
      ret = gst_pad_push (src, buf);
    }
    r->replaying = FALSE;
  }
  g_queue_clear_full (&kept, (GDestroyNotify)gst_buffer_unref);
  gw_parameter_sets_clear (&sets);
  return GST_PAD_PROBE_REMOVE;
}

/* Links a new tee pad to @sink, the kept GOP first. Returns the tee pad (a
 * ref) or NULL. No lock held. */
static GstPad *
link_to_tee (GwStream *s, GstPad *sink)
{
  GstPad *src = gst_element_request_pad_simple (s->tee, "src_%u");
  if (!src)
    return NULL;
  Replay *r = g_new0 (Replay, 1);
  r->stream = gw_stream_ref (s);
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, replay_gop, r, replay_free);
  GstPadLinkReturn ret = gst_pad_link (src, sink);
  if (GST_PAD_LINK_FAILED (ret)) {
    GST_WARNING_OBJECT (s->tee, "cannot link %" GST_PTR_FORMAT ": %s", sink,
                        gst_pad_link_get_name (ret));
    gst_element_release_request_pad (s->tee, src);
    gst_object_unref (src);
    return NULL;
  }
  GST_DEBUG_OBJECT (s->tee, "feeding %" GST_PTR_FORMAT " from %s", sink, GST_PAD_NAME (src));
  return src;
}

/* ---------------------------------------------------------------- API */

GwStream *
gw_stream_new (GstBin *bin, GstPad *upstream, const gchar *name)
{
  ensure_debug ();

  GstElement *tee = gst_element_factory_make ("tee", name);
  if (!tee) {
    GST_WARNING ("no tee element");
    return NULL;
  }
  g_object_set (tee, "allow-not-linked", TRUE, NULL);
  if (!gst_bin_add (bin, tee)) {
    gst_object_unref (tee);
    return NULL;
  }

  g_autoptr (GstPad) sink = gst_element_get_static_pad (tee, "sink");
  if (GST_PAD_LINK_FAILED (gst_pad_link (upstream, sink))) {
    GST_WARNING_OBJECT (bin, "cannot link %" GST_PTR_FORMAT " to the stream", upstream);
    gst_bin_remove (bin, tee);
    return NULL;
  }
  gst_element_sync_state_with_parent (tee);

  GwStream *s = g_new0 (GwStream, 1);
  s->tee = GST_ELEMENT (gst_object_ref (tee));
  g_mutex_init (&s->lock);
  gw_gop_init (&s->gop);
  s->refs = 2; /* the caller's and the probe's */
  s->sender = gw_sender_new ();
  gst_pad_add_probe (sink,
                     (GstPadProbeType)(GST_PAD_PROBE_TYPE_BUFFER
                                       | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM
                                       | GST_PAD_PROBE_TYPE_EVENT_FLUSH),
                     on_stream_data, s, (GDestroyNotify)gw_stream_unref);
  return s;
}

GstCaps *
gw_stream_get_caps (GwStream *stream)
{
  g_autoptr (GstPad) sink = gst_element_get_static_pad (stream->tee, "sink");
  return gst_pad_get_current_caps (sink);
}

GwSender *
gw_stream_get_sender (GwStream *stream)
{
  return gw_sender_ref (stream->sender);
}

GwStream *
gw_stream_accept_attach (GstQuery *query)
{
  if (GST_QUERY_TYPE (query) != GST_QUERY_CUSTOM)
    return NULL;
  const GstStructure *st = gst_query_get_structure (query);
  if (!st || !gst_structure_has_name (st, ATTACH_QUERY))
    return NULL;
  gpointer stream = NULL;
  if (!gst_structure_get (st, "stream", G_TYPE_POINTER, &stream, NULL) || !stream)
    return NULL;
  gst_structure_set (gst_query_writable_structure (query), "accepted", G_TYPE_BOOLEAN, TRUE, NULL);
  return gw_stream_ref (static_cast<GwStream *> (stream));
}

/* Asks @sink's element whether it decides itself when to be fed. */
static gboolean
ask_branch (GwStream *s, GstPad *sink)
{
  GstQuery *q = gst_query_new_custom (
      GST_QUERY_CUSTOM, gst_structure_new (ATTACH_QUERY, "stream", G_TYPE_POINTER, s, NULL));
  gst_pad_query (sink, q);
  gboolean accepted = FALSE;
  gst_structure_get_boolean (gst_query_get_structure (q), "accepted", &accepted);
  gst_query_unref (q);
  return accepted;
}

gboolean
gw_stream_attach (GwStream *stream, GstPad *sink)
{
  GwStream *s = stream;
  Port *p = g_new0 (Port, 1);
  p->sink = GST_PAD (gst_object_ref (sink));
  g_object_set_qdata (G_OBJECT (sink), attached_quark, GINT_TO_POINTER (1));

  if (!ask_branch (s, sink)) {
    p->src = link_to_tee (s, sink);
    if (!p->src) {
      g_object_set_qdata (G_OBJECT (sink), attached_quark, NULL);
      port_free (p);
      return FALSE;
    }
  } else {
    GST_DEBUG_OBJECT (s->tee, "%" GST_PTR_FORMAT " gets events until it asks to be fed", sink);
  }
  g_mutex_lock (&s->lock);
  s->ports = g_list_prepend (s->ports, p);
  s->n_attached++;
  g_mutex_unlock (&s->lock);
  return TRUE;
}

/* ---------------------------------------------------------------- detach */

static gboolean
branch_has_attached_sink_pads (GstElement *branch)
{
  gboolean attached = FALSE;
  GST_OBJECT_LOCK (branch);
  for (GList *l = branch->sinkpads; l; l = l->next) {
    if (g_object_get_qdata (G_OBJECT (l->data), attached_quark)) {
      attached = TRUE;
      break;
    }
  }
  GST_OBJECT_UNLOCK (branch);
  return attached;
}

static void
remove_branch (GstElement *branch, gpointer user_data)
{
  gst_element_set_state (branch, GST_STATE_NULL);
  GstObject *parent = gst_object_get_parent (GST_OBJECT (branch));
  if (parent) {
    gst_bin_remove (GST_BIN (parent), branch);
    gst_object_unref (parent);
  }
  GST_DEBUG ("removed branch %" GST_PTR_FORMAT, branch);
}

/* @sink is no longer attached: removes @branch if none of its pads is. */
static void
release_branch (GstPad *sink, GstElement *branch)
{
  g_object_set_qdata (G_OBJECT (sink), attached_quark, NULL);
  if (!branch || branch_has_attached_sink_pads (branch))
    return;
  /* Schedule once per branch. */
  GST_OBJECT_LOCK (branch);
  gboolean scheduled = g_object_get_qdata (G_OBJECT (branch), removal_quark) != NULL;
  if (!scheduled)
    g_object_set_qdata (G_OBJECT (branch), removal_quark, GINT_TO_POINTER (1));
  GST_OBJECT_UNLOCK (branch);
  if (!scheduled)
    gst_element_call_async (branch, remove_branch, NULL, NULL);
}

struct Detach
{
  GstElement *tee;
  GstPad *sink;
  GstElement *branch; /* nullable */
  gint done;
};

static void
detach_free (gpointer data)
{
  Detach *d = static_cast<Detach *> (data);
  gst_object_unref (d->tee);
  gst_object_unref (d->sink);
  if (d->branch)
    gst_object_unref (d->branch);
  g_free (d);
}

static GstPadProbeReturn
unlink_when_idle (GstPad *src, GstPadProbeInfo *info, gpointer data)
{
  Detach *d = static_cast<Detach *> (data);

  /* The probe can fire twice (installed on an idle pad it runs at once, and
   * may also be called from the streaming thread): do the work once. */
  if (!g_atomic_int_compare_and_exchange (&d->done, 0, 1))
    return GST_PAD_PROBE_REMOVE;

  gst_pad_unlink (src, d->sink);
  gst_element_release_request_pad (d->tee, src);
  release_branch (d->sink, d->branch);
  return GST_PAD_PROBE_REMOVE;
}

/* Unlinks @p (linked) from an IDLE probe. Takes @p. */
static void
detach_linked (GwStream *s, Port *p, GstElement *branch)
{
  Detach *d = g_new0 (Detach, 1);
  d->tee = GST_ELEMENT (gst_object_ref (s->tee));
  d->sink = GST_PAD (gst_object_ref (p->sink));
  d->branch = branch ? GST_ELEMENT (gst_object_ref (branch)) : NULL;
  gst_pad_add_probe (p->src, GST_PAD_PROBE_TYPE_IDLE, unlink_when_idle, d, detach_free);
  port_free (p);
}

gboolean
gw_stream_detach (GwStream *stream, GstPad *sink, GstElement *branch)
{
  GwStream *s = stream;
  g_mutex_lock (&s->lock);
  GList *link = NULL;
  for (GList *l = s->ports; l; l = l->next) {
    Port *p = static_cast<Port *> (l->data);
    if (p->sink == sink && !p->detached) {
      link = l;
      break;
    }
  }
  if (!link) {
    g_mutex_unlock (&s->lock);
    return FALSE;
  }
  Port *p = static_cast<Port *> (link->data);
  if (s->n_attached > 0)
    s->n_attached--;
  gboolean linking = p->linking;
  if (linking) {
    /* gw_stream_feed is linking it: it finishes the detach. */
    p->detached = TRUE;
    p->branch = branch ? GST_ELEMENT (gst_object_ref (branch)) : NULL;
  } else {
    s->ports = g_list_delete_link (s->ports, link);
  }
  g_mutex_unlock (&s->lock);

  /* From now on the branch's state is the removal's business: a state
   * change of its parent racing with the asynchronous removal would bring an
   * already-NULL branch back up, to be disposed in READY or PAUSED. */
  if (branch)
    gst_element_set_locked_state (branch, TRUE);
  if (linking)
    return TRUE;

  if (p->src) {
    detach_linked (s, p, branch);
  } else {
    release_branch (p->sink, branch);
    port_free (p);
  }
  return TRUE;
}

gboolean
gw_stream_feed (GwStream *stream, GstPad *sink)
{
  GwStream *s = stream;
  g_mutex_lock (&s->lock);
  Port *p = NULL;
  for (GList *l = s->ports; l; l = l->next) {
    Port *q = static_cast<Port *> (l->data);
    if (q->sink == sink && !q->detached) {
      p = q;
      break;
    }
  }
  if (!p || p->src || p->linking) {
    g_mutex_unlock (&s->lock);
    return p != NULL;
  }
  p->linking = TRUE;
  g_mutex_unlock (&s->lock);

  GstPad *src = link_to_tee (s, sink);

  g_mutex_lock (&s->lock);
  p->linking = FALSE;
  p->src = src;
  gboolean detached = p->detached;
  if (detached)
    s->ports = g_list_remove (s->ports, p);
  g_mutex_unlock (&s->lock);

  if (detached) {
    GstElement *branch = p->branch;
    p->branch = NULL;
    if (p->src) {
      detach_linked (s, p, branch);
    } else {
      release_branch (p->sink, branch);
      port_free (p);
    }
    if (branch)
      gst_object_unref (branch);
    return FALSE;
  }
  return src != NULL;
}

GstSample *
gw_stream_get_keyframe (GwStream *stream)
{
  g_mutex_lock (&stream->lock);
  GstBuffer *key = NULL;
  if (stream->video && stream->gop.frames.head)
    key = gst_buffer_ref (GST_BUFFER (stream->gop.frames.head->data));
  const GwNalSyntax *nal = stream->nal;
  GwParameterSets sets = {};
  if (key && nal)
    gw_parameter_sets_copy (&sets, &stream->sets);
  g_mutex_unlock (&stream->lock);
  if (!key)
    return NULL;

  g_autoptr (GstCaps) caps = gw_stream_get_caps (stream);
  if (!caps) {
    gst_buffer_unref (key);
    gw_parameter_sets_clear (&sets);
    return NULL;
  }
  if (nal) {
    gboolean has_own = gw_nal_keep_parameter_sets (nal, key, NULL);
    key = gw_nal_with_parameter_sets (nal, key, has_own, &sets);
  }
  gw_parameter_sets_clear (&sets);
  GstSample *sample = gst_sample_new (key, caps, NULL, NULL);
  gst_buffer_unref (key);
  return sample;
}

guint
gw_stream_get_n_attached (GwStream *stream)
{
  g_mutex_lock (&stream->lock);
  guint n = stream->n_attached;
  g_mutex_unlock (&stream->lock);
  return n;
}

guint
gw_stream_get_n_fed (GwStream *stream)
{
  guint n = 0;
  g_mutex_lock (&stream->lock);
  for (GList *l = stream->ports; l; l = l->next)
    n += static_cast<Port *> (l->data)->src != NULL;
  g_mutex_unlock (&stream->lock);
  return n;
}
