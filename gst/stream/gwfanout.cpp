#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwfanout.h"
#include "gwkeyframegate.h"
#include "gwsender.h"

GST_DEBUG_CATEGORY_STATIC (gw_fanout_debug);
#define GST_CAT_DEFAULT gw_fanout_debug

struct _GwFanout
{
  GstElement *tee; /* borrowed from the bin, plus our own ref */
  /* Protected by the tee's object lock: number of tee src pads we linked. */
  guint n_attached;

  /* The latest keyframe and the frames that followed it (video only), given
   * to each new branch before its first live buffer: a viewer need not wait
   * up to a whole keyframe interval for its first picture. Written from the
   * streaming thread; the lock guards against gw_fanout_free. */
  GMutex lock;
  gboolean video;
  GwGop gop;
  gint refs;        /* the fanout and each pending replay probe */
  GwSender *sender; /* the stream's shared sender, ref held */
};

/* Marks a branch whose removal is already scheduled, so a branch fed by
 * several fanouts is removed once. */
static GQuark removal_quark;

static void
ensure_debug (void)
{
  static gsize once = 0;
  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (gw_fanout_debug, "gwfanout", 0, "gw fan-out (tee)");
    removal_quark = g_quark_from_static_string ("gw-fanout-removal");
    g_once_init_leave (&once, 1);
  }
}

static void
fanout_unref (GwFanout *fanout)
{
  if (!g_atomic_int_dec_and_test (&fanout->refs))
    return;
  gw_gop_clear (&fanout->gop);
  g_mutex_clear (&fanout->lock);
  if (fanout->sender)
    gw_sender_unref (fanout->sender);
  gst_object_unref (fanout->tee);
  g_free (fanout);
}

static void
clear_gop (GwFanout *fanout)
{
  gw_gop_clear (&fanout->gop);
}

/* Tee sink pad: keeps the current GOP. */
static GstPadProbeReturn
keep_gop (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  GwFanout *fanout = static_cast<GwFanout *> (data);

  if (info->type & (GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM | GST_PAD_PROBE_TYPE_EVENT_FLUSH)) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
    if (fanout->sender)
      gw_sender_handle_event (fanout->sender, event);
    if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS) {
      GstCaps *caps;
      gst_event_parse_caps (event, &caps);
      const GstStructure *s = gst_caps_get_structure (caps, 0);
      g_mutex_lock (&fanout->lock);
      fanout->video = s && g_str_has_prefix (gst_structure_get_name (s), "video/");
      clear_gop (fanout); /* new caps: old frames would not decode */
      g_mutex_unlock (&fanout->lock);
    } else if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP
               || GST_EVENT_TYPE (event) == GST_EVENT_STREAM_START
               || GST_EVENT_TYPE (event) == GST_EVENT_EOS) {
      g_mutex_lock (&fanout->lock);
      clear_gop (fanout);
      g_mutex_unlock (&fanout->lock);
    }
    return GST_PAD_PROBE_OK;
  }

  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  g_mutex_lock (&fanout->lock);
  if (fanout->video)
    gw_gop_keep (&fanout->gop, buf);
  g_mutex_unlock (&fanout->lock);
  /* The shared sender sends to its viewers before the tee feeds the
   * branches: the first thing done with each buffer. */
  if (fanout->sender)
    gw_sender_handle_buffer (fanout->sender, buf);
  return GST_PAD_PROBE_OK;
}

struct Replay
{
  GwFanout *fanout;
  gboolean replaying;
};

static void
replay_free (gpointer data)
{
  Replay *r = static_cast<Replay *> (data);
  fanout_unref (r->fanout);
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
  g_mutex_lock (&r->fanout->lock);
  for (GList *l = r->fanout->gop.frames.head; l && l->data != live; l = l->next)
    g_queue_push_tail (&kept, gst_buffer_ref (GST_BUFFER (l->data)));
  g_mutex_unlock (&r->fanout->lock);

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
      ret = gst_pad_push (src, gw_gop_retime (buf, i, n, GST_BUFFER_PTS (live)));
    }
    r->replaying = FALSE;
  }
  g_queue_clear_full (&kept, (GDestroyNotify)gst_buffer_unref);
  return GST_PAD_PROBE_REMOVE;
}

GwFanout *
gw_fanout_new (GstBin *bin, GstPad *upstream, const gchar *name)
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
    GST_WARNING_OBJECT (bin, "cannot link %" GST_PTR_FORMAT " to the fan-out", upstream);
    gst_bin_remove (bin, tee);
    return NULL;
  }
  gst_element_sync_state_with_parent (tee);

  GwFanout *fanout = g_new0 (GwFanout, 1);
  fanout->tee = GST_ELEMENT (gst_object_ref (tee));
  g_mutex_init (&fanout->lock);
  gw_gop_init (&fanout->gop);
  fanout->refs = 2; /* the caller's and the probe's */
  fanout->sender = gw_sender_new ();
  gst_pad_add_probe (sink,
                     (GstPadProbeType)(GST_PAD_PROBE_TYPE_BUFFER
                                       | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM
                                       | GST_PAD_PROBE_TYPE_EVENT_FLUSH),
                     keep_gop, fanout, (GDestroyNotify)fanout_unref);
  return fanout;
}

GstCaps *
gw_fanout_get_caps (GwFanout *fanout)
{
  g_autoptr (GstPad) sink = gst_element_get_static_pad (fanout->tee, "sink");
  return gst_pad_get_current_caps (sink);
}

gboolean
gw_fanout_attach (GwFanout *fanout, GstPad *sink)
{
  GstPad *src = gst_element_request_pad_simple (fanout->tee, "src_%u");
  if (!src)
    return FALSE;

  Replay *r = g_new0 (Replay, 1);
  r->fanout = fanout;
  g_atomic_int_inc (&fanout->refs);
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, replay_gop, r, replay_free);

  /* Before the link: the branch looks at it on its first buffer. */
  if (fanout->sender)
    gw_sender_mark_pad (sink, fanout->sender);
  GstPadLinkReturn ret = gst_pad_link (src, sink);
  if (GST_PAD_LINK_FAILED (ret)) {
    gw_sender_mark_pad (sink, NULL);
    GST_WARNING_OBJECT (fanout->tee, "cannot link %" GST_PTR_FORMAT ": %s", sink,
                        gst_pad_link_get_name (ret));
    gst_element_release_request_pad (fanout->tee, src);
    gst_object_unref (src);
    return FALSE;
  }
  GST_OBJECT_LOCK (fanout->tee);
  fanout->n_attached++;
  GST_OBJECT_UNLOCK (fanout->tee);
  GST_DEBUG_OBJECT (fanout->tee, "attached %" GST_PTR_FORMAT " on %s", sink, GST_PAD_NAME (src));
  gst_object_unref (src);
  return TRUE;
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

static gboolean
branch_has_linked_sink_pads (GstElement *branch)
{
  gboolean linked = FALSE;
  GST_OBJECT_LOCK (branch);
  for (GList *l = branch->sinkpads; l; l = l->next) {
    if (gst_pad_is_linked (GST_PAD (l->data))) {
      linked = TRUE;
      break;
    }
  }
  GST_OBJECT_UNLOCK (branch);
  return linked;
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

  if (d->branch && !branch_has_linked_sink_pads (d->branch)) {
    /* Schedule once per branch. */
    GST_OBJECT_LOCK (d->branch);
    gboolean scheduled = g_object_get_qdata (G_OBJECT (d->branch), removal_quark) != NULL;
    if (!scheduled)
      g_object_set_qdata (G_OBJECT (d->branch), removal_quark, GINT_TO_POINTER (1));
    GST_OBJECT_UNLOCK (d->branch);
    if (!scheduled)
      gst_element_call_async (d->branch, remove_branch, NULL, NULL);
  }
  return GST_PAD_PROBE_REMOVE;
}

gboolean
gw_fanout_detach (GwFanout *fanout, GstPad *sink, GstElement *branch)
{
  GstPad *src = gst_pad_get_peer (sink);
  if (!src)
    return FALSE;
  g_autoptr (GstObject) owner = gst_pad_get_parent (src);
  if (owner != GST_OBJECT (fanout->tee)) {
    gst_object_unref (src);
    return FALSE;
  }

  GST_OBJECT_LOCK (fanout->tee);
  if (fanout->n_attached > 0)
    fanout->n_attached--;
  GST_OBJECT_UNLOCK (fanout->tee);

  /* From now on the branch's state is the removal's business: a state
   * change of its parent racing with the asynchronous removal would bring an
   * already-NULL branch back up, to be disposed in READY or PAUSED. */
  if (branch)
    gst_element_set_locked_state (branch, TRUE);

  Detach *d = g_new0 (Detach, 1);
  d->tee = GST_ELEMENT (gst_object_ref (fanout->tee));
  d->sink = GST_PAD (gst_object_ref (sink));
  d->branch = branch ? GST_ELEMENT (gst_object_ref (branch)) : NULL;
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_IDLE, unlink_when_idle, d, detach_free);
  gst_object_unref (src);
  return TRUE;
}

guint
gw_fanout_get_n_attached (GwFanout *fanout)
{
  GST_OBJECT_LOCK (fanout->tee);
  guint n = fanout->n_attached;
  GST_OBJECT_UNLOCK (fanout->tee);
  return n;
}

void
gw_fanout_free (GwFanout *fanout)
{
  if (!fanout)
    return;
  fanout_unref (fanout);
}
