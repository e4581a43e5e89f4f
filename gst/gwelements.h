/* Registration of the gw elements, shared by the plugin module and by programs
 * that link the elements statically (tests, the gateway). */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* Registers gwsourcebin, gwreaderbin and gwsink with @plugin. */
gboolean gw_elements_register (GstPlugin *plugin);

/* Registers the elements as a static plugin named "gw" (idempotent), for
 * programs that link libgw-elements instead of loading libgstgw.so. */
gboolean gw_elements_register_static (void);

G_END_DECLS
