/* NAL unit tools: see gwnal.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwnal.h"

void
gw_nal_split_annexb (const guint8 *d, gsize n, GwNals &out)
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

gsize
gw_nal_start_code_offset (const guint8 *d, gsize nal)
{
  return (nal >= 4 && d[nal - 4] == 0) ? nal - 4 : nal - 3;
}

guint
gw_nal_type (const GwNalSyntax *syntax, const guint8 *nal)
{
  if (!syntax)
    return 0;
  return (nal[0] >> syntax->type_shift) & syntax->type_mask;
}

static gboolean
has_type (guint64 types, guint type)
{
  return type < 64 && (types & GW_NAL_BIT (type));
}

gboolean
gw_nal_is_keyframe (const GwNalSyntax *syntax, guint type)
{
  return syntax && has_type (syntax->keyframe_types, type);
}

gboolean
gw_nal_is_parameter_set (const GwNalSyntax *syntax, guint type)
{
  return syntax && has_type (syntax->parameter_set_types, type);
}

gboolean
gw_nal_is_delimiter (const GwNalSyntax *syntax, guint type)
{
  return syntax && has_type (syntax->delimiter_types, type);
}

gint
gw_nal_parameter_set_index (const GwNalSyntax *syntax, guint type)
{
  if (!gw_nal_is_parameter_set (syntax, type))
    return -1;
  /* the number of parameter set types below @type */
  gint index = __builtin_popcountll (syntax->parameter_set_types & (GW_NAL_BIT (type) - 1));
  return index < GW_NAL_MAX_PARAMETER_SETS ? index : -1;
}

guint
gw_nal_n_parameter_sets (const GwNalSyntax *syntax)
{
  guint n = syntax ? __builtin_popcountll (syntax->parameter_set_types) : 0;
  return MIN (n, GW_NAL_MAX_PARAMETER_SETS);
}

void
gw_parameter_sets_clear (GwParameterSets *ps)
{
  for (GstBuffer *&b : ps->sets)
    gst_clear_buffer (&b);
}

void
gw_parameter_sets_copy (GwParameterSets *dst, const GwParameterSets *src)
{
  for (guint i = 0; i < GW_NAL_MAX_PARAMETER_SETS; i++)
    gst_buffer_replace (&dst->sets[i], src->sets[i]);
}

gboolean
gw_nal_keep_parameter_sets (const GwNalSyntax *syntax, GstBuffer *buf, GwParameterSets *ps)
{
  if (!syntax)
    return FALSE;
  GstMapInfo map;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return FALSE;
  const guint8 *d = map.data;
  gboolean has_own = FALSE;
  guint n_sets = gw_nal_n_parameter_sets (syntax);
  /* Where each kind of set starts and ends in @buf (the last one wins). */
  gsize at[GW_NAL_MAX_PARAMETER_SETS][2] = {};
  guint present = 0;
  GwNals nals;
  gw_nal_split_annexb (d, map.size, nals);
  for (auto &n : nals) {
    gint index = gw_nal_parameter_set_index (syntax, gw_nal_type (syntax, d + n.first));
    if (index < 0)
      continue;
    if (index == 0)
      has_own = TRUE;
    at[index][0] = gw_nal_start_code_offset (d, n.first);
    at[index][1] = n.first + n.second;
    present |= 1u << index;
  }
  /* Kept only from a unit that carries the whole group: a stray or corrupt
   * set alone (a PPS with another id, say) would otherwise be put in front
   * of every later keyframe, and a decoder that needs the real one would
   * never get it. */
  if (ps && n_sets > 0 && present == (1u << n_sets) - 1) {
    for (guint i = 0; i < n_sets; i++) {
      GstBuffer *copy = gst_buffer_new_memdup (d + at[i][0], at[i][1] - at[i][0]);
      gst_buffer_replace (&ps->sets[i], copy);
      gst_buffer_unref (copy);
    }
  }
  gst_buffer_unmap (buf, &map);
  return has_own;
}

GstBuffer *
gw_nal_with_parameter_sets (const GwNalSyntax *syntax, GstBuffer *key, gboolean has_own,
                            const GwParameterSets *ps)
{
  guint n = gw_nal_n_parameter_sets (syntax);
  if (has_own || n == 0)
    return key;
  for (guint i = 0; i < n; i++)
    if (!ps->sets[i])
      return key;
  GstBuffer *out = gst_buffer_new ();
  gst_buffer_copy_into (out, key, (GstBufferCopyFlags)(GST_BUFFER_COPY_METADATA), 0, -1);
  for (guint i = 0; i < n; i++)
    gst_buffer_append_memory (out, gst_buffer_get_all_memory (ps->sets[i]));
  return gst_buffer_append (out, key);
}
