#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwfanout.h"

GST_DEBUG_CATEGORY_STATIC (gw_fanout_debug);
#define GST_CAT_DEFAULT gw_fanout_debug

struct _GwFanout
{
  GstElement *tee;              /* borrowed from the bin, plus our own ref */
  /* Protected by the tee's object lock: number of tee src pads we linked. */
  guint n_attached;
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

GwFanout *
gw_fanout_new (GstBin * bin, GstPad * upstream, const gchar * name)
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
  return fanout;
}

GstCaps *
gw_fanout_get_caps (GwFanout * fanout)
{
  g_autoptr (GstPad) sink = gst_element_get_static_pad (fanout->tee, "sink");
  return gst_pad_get_current_caps (sink);
}

gboolean
gw_fanout_attach (GwFanout * fanout, GstPad * sink)
{
  GstPad *src = gst_element_request_pad_simple (fanout->tee, "src_%u");
  if (!src)
    return FALSE;

  GstPadLinkReturn ret = gst_pad_link (src, sink);
  if (GST_PAD_LINK_FAILED (ret)) {
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
  GstElement *branch;           /* nullable */
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
branch_has_linked_sink_pads (GstElement * branch)
{
  gboolean linked = FALSE;
  GST_OBJECT_LOCK (branch);
  for (GList * l = branch->sinkpads; l; l = l->next) {
    if (gst_pad_is_linked (GST_PAD (l->data))) {
      linked = TRUE;
      break;
    }
  }
  GST_OBJECT_UNLOCK (branch);
  return linked;
}

static void
remove_branch (GstElement * branch, gpointer user_data)
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
unlink_when_idle (GstPad * src, GstPadProbeInfo * info, gpointer data)
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
gw_fanout_detach (GwFanout * fanout, GstPad * sink, GstElement * branch)
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
gw_fanout_get_n_attached (GwFanout * fanout)
{
  GST_OBJECT_LOCK (fanout->tee);
  guint n = fanout->n_attached;
  GST_OBJECT_UNLOCK (fanout->tee);
  return n;
}

void
gw_fanout_free (GwFanout * fanout)
{
  if (!fanout)
    return;
  gst_object_unref (fanout->tee);
  g_free (fanout);
}
