#include "gwsourcebin.h"
struct _GwSourceBin { GstBin parent; };
G_DEFINE_TYPE (GwSourceBin, gw_source_bin, GST_TYPE_BIN)
static void gw_source_bin_class_init (GwSourceBinClass * klass) {
  gst_element_class_set_static_metadata (GST_ELEMENT_CLASS (klass), "placeholder", "Generic", "placeholder", "gw");
}
static void gw_source_bin_init (GwSourceBin * self) {}
