#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwelements.h"
#include "gwreaderbin.h"
#include "gwsink.h"
#include "gwsourcebin.h"

gboolean
gw_elements_register (GstPlugin *plugin)
{
  gboolean ok = TRUE;
  ok &= gst_element_register (plugin, "gwsourcebin", GST_RANK_NONE, GW_TYPE_SOURCE_BIN);
  ok &= gst_element_register (plugin, "gwreaderbin", GST_RANK_NONE, GW_TYPE_READER_BIN);
  ok &= gst_element_register (plugin, "gwsink", GST_RANK_NONE, GW_TYPE_SINK);
  return ok;
}

gboolean
gw_elements_register_static (void)
{
  static gsize once = 0;
  static gboolean ok = FALSE;
  if (g_once_init_enter (&once)) {
    ok = gst_plugin_register_static (GST_VERSION_MAJOR, GST_VERSION_MINOR, "gw",
                                     "RTSP to WebRTC gateway elements", gw_elements_register,
                                     VERSION, "LGPL", "gst-webrtc-gateway", GST_PACKAGE_NAME,
                                     GST_PACKAGE_ORIGIN);
    g_once_init_leave (&once, 1);
  }
  return ok;
}
