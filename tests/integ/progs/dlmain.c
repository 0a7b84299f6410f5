/* dlopen()s libdl_lib.so and calls its lib_fn() 10 times. */
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	void *h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		fprintf(stderr, "%s\n", dlerror());
		return 2;
	}
	void (*fn)(int) = (void (*)(int))dlsym(h, "lib_fn");
	for (int i = 0; i < 10; i++)
		fn(i);
	dlclose(h);
	return 0;
}
