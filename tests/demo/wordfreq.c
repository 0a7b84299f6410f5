/* The demo program: counts word frequencies in generated text with a small hash table and
 * sorts them: a few dozen functions, some hot, some not, one worker thread. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	char word[16];
	int count;
	struct entry *next;
};
#define NBUCKETS 1024
static struct entry *table[NBUCKETS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned hash(const char *s)
{
	unsigned h = 5381;
	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h % NBUCKETS;
}

static struct entry *lookup(const char *w)
{
	for (struct entry *e = table[hash(w)]; e; e = e->next)
		if (!strcmp(e->word, w))
			return e;
	return NULL;
}

static void add_word(const char *w)
{
	pthread_mutex_lock(&lock);
	struct entry *e = lookup(w);
	if (!e) {
		e = calloc(1, sizeof(*e));
		snprintf(e->word, sizeof(e->word), "%s", w);
		e->next = table[hash(w)];
		table[hash(w)] = e;
	}
	e->count++;
	pthread_mutex_unlock(&lock);
}

static void make_word(unsigned *seed, char *out)
{
	static const char *syl[] = {"ka", "lo", "mi", "ne", "ru", "ta", "vo", "xi"};
	int n = 1 + (int)(*seed % 3);
	out[0] = 0;
	for (int i = 0; i < n; i++) {
		*seed = *seed * 1103515245u + 12345u;
		strcat(out, syl[(*seed >> 16) % 8]);
	}
}

static void *produce(void *arg)
{
	unsigned seed = (unsigned)(long)arg;
	char w[16];
	for (int i = 0; i < 60000; i++) {
		make_word(&seed, w);
		add_word(w);
	}
	return NULL;
}

static int by_count(const void *a, const void *b)
{
	const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
	return y->count != x->count ? y->count - x->count : strcmp(x->word, y->word);
}

static void report(void)
{
	struct entry *all[4096];
	int n = 0;
	for (int b = 0; b < NBUCKETS; b++)
		for (struct entry *e = table[b]; e && n < 4096; e = e->next)
			all[n++] = e;
	qsort(all, (size_t)n, sizeof(all[0]), by_count);
	printf("%d distinct words; top 3:", n);
	for (int i = 0; i < 3 && i < n; i++)
		printf(" %s=%d", all[i]->word, all[i]->count);
	printf("\n");
}

int main(void)
{
	pthread_t t;
	pthread_create(&t, NULL, produce, (void *)7L);
	produce((void *)42L);
	pthread_join(t, NULL);
	report();
	return 0;
}
