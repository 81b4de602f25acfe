/* core/treeimg.h: the files of images/ and kernels/ (core/treeimg.c),
 * for tree.c's tables. */
#ifndef BANGER_TREEIMG_H
#define BANGER_TREEIMG_H

#include <stdbool.h>
#include <stddef.h>

#include "tree.h"

/* images/NAME/ and kernels/NAME/: manifest state status progress ctl err,
 * and for images (images true) snapshots. */
const struct tree_file *treeimg_entry_files(bool images, size_t *n);
/* images/ (images true) or kernels/ themselves: ctl catalogs. */
const struct tree_file *treeimg_dir_files(bool images, size_t *n);

#endif
