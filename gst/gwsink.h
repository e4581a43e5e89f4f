#pragma once
#include <gst/gst.h>
G_BEGIN_DECLS
#define GW_TYPE_SINK (gw_sink_get_type ())
G_DECLARE_FINAL_TYPE (GwSink, gw_sink, GW, SINK, GstBin)
G_END_DECLS
