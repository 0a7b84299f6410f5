/* fdlayout FILE N [close]: daemon-style descriptor layout. Opens FILE and dup2()s it over
 * descriptors 3..15 (or, with "close", closes every descriptor >= 3 first), calls leaf() N
 * times, then writes one line through each of 3..15 (with "close": none). FILE must end up
 * holding exactly those 13 lines. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile long sink;

__attribute__((noinline)) void leaf(long x)
{
	sink += x;
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 1000;
	int closing = argc > 3 && !strcmp(argv[3], "close");
	int fd;

	if (closing)
		for (int i = 3; i < 65536; i++)
			close(i);
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return 1;
	if (!closing)
		for (int i = 3; i <= 15; i++)
			if (i != fd && dup2(fd, i) < 0)
				return 1;
	for (long i = 0; i < n; i++)
		leaf(i);
	if (!closing) {
		for (int i = 3; i <= 15; i++) {
			char line[32];
			int len = snprintf(line, sizeof(line), "fd %d\n", i);

			if (write(i, line, (size_t)len) != len)
				return 1;
		}
	}
	return 0;
}
