#include "gwreaderbin.h"
struct _GwReaderBin { GstBin parent; };
G_DEFINE_TYPE (GwReaderBin, gw_reader_bin, GST_TYPE_BIN)
G_DEFINE_QUARK (gw-reader-error-quark, gw_reader_error)
static void gw_reader_bin_class_init (GwReaderBinClass * klass) {
  gst_element_class_set_static_metadata (GST_ELEMENT_CLASS (klass), "placeholder", "Generic", "placeholder", "gw");
}
static void gw_reader_bin_init (GwReaderBin * self) {}
