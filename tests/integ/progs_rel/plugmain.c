/* plugmain N: dlopen()s "libplug.so", found only through its own DT_RUNPATH
 * ($ORIGIN/plugins), and calls its plug_fn() N times. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10;
	void *h = dlopen("libplug.so", RTLD_NOW);
	void (*fn)(long);

	if (!h) {
		fprintf(stderr, "dlopen failed: %s\n", dlerror());
		return 1;
	}
	fn = (void (*)(long))dlsym(h, "plug_fn");
	if (!fn)
		return 1;
	for (long i = 0; i < n; i++)
		fn(i);
	dlclose(h);
	return 0;
}
