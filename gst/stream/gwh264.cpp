/* H.264 Annex B helpers: see gwh264.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwh264.h"

void
gw_h264_split_nals (const guint8 *d, gsize n, GwNals &out)
{
  out.clear ();
  gsize i = 0, start = G_MAXSIZE;
  while (i + 3 <= n) {
    if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1) {
      if (start != G_MAXSIZE) {
        gsize end = i;
        while (end > start && d[end - 1] == 0)
          end--; /* trailing zeros belong to the next start code */
        out.emplace_back (start, end - start);
      }
      i += 3;
      start = i;
    } else {
      i++;
    }
  }
  if (start != G_MAXSIZE && start < n)
    out.emplace_back (start, n - start);
}
