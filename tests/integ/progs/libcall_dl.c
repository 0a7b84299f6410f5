/* SPDX-License-Identifier: MIT */
/* An instrumented library libcallprog dlopens: its library calls are traced too. */
#include <stdlib.h>

void *volatile lc_dl_keep;

void lc_dl_work(void)
{
	for (int i = 0; i < 5; i++) {
		lc_dl_keep = malloc(32);
		free(lc_dl_keep);
	}
}
