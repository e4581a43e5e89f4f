#include "gwsink.h"
struct _GwSink { GstBin parent; };
G_DEFINE_TYPE (GwSink, gw_sink, GST_TYPE_BIN)
static void gw_sink_class_init (GwSinkClass * klass) {
  gst_element_class_set_static_metadata (GST_ELEMENT_CLASS (klass), "placeholder", "Generic", "placeholder", "gw");
}
static void gw_sink_init (GwSink * self) {}
