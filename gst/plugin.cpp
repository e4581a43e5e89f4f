/* libgstgw.so: the "gw" plugin module. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwelements.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  return gw_elements_register (plugin);
}

GST_PLUGIN_DEFINE (
    GST_VERSION_MAJOR, GST_VERSION_MINOR, gw,
    "RTSP to WebRTC gateway elements: shared upstream, per-viewer reader, browser sink",
    plugin_init, VERSION, "LGPL", GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
