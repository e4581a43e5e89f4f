#pragma once
#include <gst/gst.h>
G_BEGIN_DECLS
#define GW_TYPE_SOURCE_BIN (gw_source_bin_get_type ())
G_DECLARE_FINAL_TYPE (GwSourceBin, gw_source_bin, GW, SOURCE_BIN, GstBin)
G_END_DECLS
