/* dlopen'd objects (tests/integ/test_followed.sh), run in a directory holding the libraries
 * with LD_LIBRARY_PATH=.: calls dep_fn() x2 (libfldep.so, linked, found through
 * LD_LIBRARY_PATH=.), dlopens ./libfla.so and libflb.so (through LD_LIBRARY_PATH), calls
 * dla_fn() x3 and dlb_fn() x5, dlcloses libfla.so, dlopens ./libflc.so (built from the same
 * source as libfla.so: its functions sit at the same offsets) and calls dlc_fn() x7, then
 * dlopens sub/libflcxo.so (C++, linking sub/libflcxi.so through $ORIGIN) and calls
 * cx_entry(4). Prints "same-base 1" when libflc.so was mapped where libfla.so had been. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>

void dep_fn(void);

static int call(void *h, const char *name, int times)
{
	void (*fn)(int) = h ? (void (*)(int))dlsym(h, name) : NULL;

	if (!fn) {
		fprintf(stderr, "%s: %s\n", name, dlerror());
		return 1;
	}
	for (int i = 0; i < times; i++)
		fn(i);
	return 0;
}

static unsigned long base_of(void *h)
{
	struct link_map *lm = NULL;

	return h && dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 ? (unsigned long)lm->l_addr : 0;
}

int main(void)
{
	void *a, *b, *c, *x;
	unsigned long base_a, base_c;
	int bad = 0;

	dep_fn();
	dep_fn();
	a = dlopen("./libfla.so", RTLD_NOW);
	b = dlopen("libflb.so", RTLD_NOW);
	bad |= call(a, "dla_fn", 3) | call(b, "dlb_fn", 5);
	base_a = base_of(a);
	if (a)
		dlclose(a);
	c = dlopen("./libflc.so", RTLD_NOW);
	bad |= call(c, "dlc_fn", 7);
	base_c = base_of(c);
	x = dlopen("sub/libflcxo.so", RTLD_NOW);
	bad |= call(x, "cx_entry", 1);
	printf("same-base %d\n", base_a && base_a == base_c);
	return bad;
}
