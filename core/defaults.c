/* core/defaults.c: the effective VM defaults and their provenance (the
 * rules are in config.h's sizing_resolve and catalog_default). */
#define _GNU_SOURCE
#include "defaults.h"

#include <stdio.h>
#include <string.h>

#include "internal.h"

static void sizing_why(const struct banger *b, enum prov p, bool memory, char *why, size_t len)
{
	switch (p) {
	case PROV_CONFIG:
		snprintf(why, len, "[vm_defaults] in %s", b->cfg.path ? b->cfg.path : "config.toml");
		break;
	case PROV_HOST:
		if (memory)
			snprintf(why, len, "host RAM %llu MiB / 8, capped at %d MiB",
				 (unsigned long long)(b->host.ram_bytes >> 20), SIZING_MAX_MEMORY_MIB);
		else
			snprintf(why, len, "host CPUs %ld / 4, capped at %d", b->host.cpus,
				 SIZING_MAX_VCPU);
		break;
	case PROV_FLOOR:
		if (memory)
			snprintf(why, len, "host RAM %llu MiB / 8 is below the floor of %d MiB",
				 (unsigned long long)(b->host.ram_bytes >> 20), SIZING_FLOOR_MEMORY_MIB);
		else
			snprintf(why, len, "host CPUs %ld / 4 is below the floor of %d", b->host.cpus,
				 SIZING_FLOOR_VCPU);
		break;
	case PROV_DEFAULT:
		snprintf(why, len, "built in");
		break;
	case PROV_VM:
		snprintf(why, len, "set on the VM");
		break;
	}
}

static void named_why(const struct banger *b, const char *kind, const char *prov, char *why,
		      size_t len)
{
	if (strcmp(prov, "config") == 0)
		snprintf(why, len, "default_%s_name in %s", kind,
			 b->cfg.path ? b->cfg.path : "config.toml");
	else if (strcmp(prov, "builtin") == 0)
		snprintf(why, len, "the first registered of banger's own %ss", kind);
	else if (strcmp(prov, "catalog") == 0)
		snprintf(why, len, "no %s registered: a catalog offers this one (banger %s pull)", kind,
			 kind);
	else if (strcmp(prov, "recipe") == 0)
		snprintf(why, len, "no %s registered: banger's recipe builds this one (banger image build)",
			 kind);
	else
		snprintf(why, len, "no %s registered: import one", kind);
}

size_t defaults_rows(struct banger *b, struct default_row *rows)
{
	size_t n = 0;
	struct default_row *r;
	char name[STORE_NAME_MAX];
	const char *prov;

	memset(rows, 0, DEFAULTS_MAX * sizeof(*rows));
	r = &rows[n++];
	r->key = "vcpu";
	snprintf(r->value, sizeof(r->value), "%lld", (long long)b->defaults.vcpu);
	r->prov = prov_name(b->defaults.vcpu_prov);
	sizing_why(b, b->defaults.vcpu_prov, false, r->why, sizeof(r->why));

	r = &rows[n++];
	r->key = "memory_mib";
	snprintf(r->value, sizeof(r->value), "%lld", (long long)b->defaults.memory_mib);
	r->prov = prov_name(b->defaults.memory_prov);
	sizing_why(b, b->defaults.memory_prov, true, r->why, sizeof(r->why));

	r = &rows[n++];
	r->key = "disk_size";
	format_size(b->defaults.disk_size, r->value, sizeof(r->value));
	r->prov = prov_name(b->defaults.disk_prov);
	if (b->defaults.disk_prov == PROV_DEFAULT)
		snprintf(r->why, sizeof(r->why), "built in");
	else
		sizing_why(b, b->defaults.disk_prov, false, r->why, sizeof(r->why));

	const char *kinds[] = { "image", "kernel" };
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		r = &rows[n++];
		r->key = kinds[k];
		catalog_default(&b->cat, kinds[k], name, sizeof(name), &prov);
		snprintf(r->value, sizeof(r->value), "%s", name[0] ? name : "-");
		r->prov = prov;
		named_why(b, kinds[k], prov, r->why, sizeof(r->why));
	}

	char why[256];
	const struct vmm_driver *d = vmm_select(&b->choice, NULL, why, sizeof(why), NULL);
	r = &rows[n++];
	r->key = "vmm";
	snprintf(r->value, sizeof(r->value), "%s", d ? d->name : "-");
	r->prov = strcmp(b->cfg.vmm, "auto") ? "config" : "auto";
	/* vmm_select's reason may already start with the provenance */
	size_t pl = strlen(r->prov);
	bool led = strncmp(why, r->prov, pl) == 0 && strncmp(why + pl, ": ", 2) == 0;
	snprintf(r->why, sizeof(r->why), "%s", led ? why + pl + 2 : why);

	r = &rows[n++];
	r->key = "accel";
	snprintf(r->value, sizeof(r->value), "%s", b->vmm_host.accel);
	r->prov = strcmp(b->cfg.qemu_accel, "auto") ? "config" : "auto";
	snprintf(r->why, sizeof(r->why), "qemu_accel %s", b->cfg.qemu_accel);
	return n;
}

void defaults_doctor(struct banger *b, struct sbuf *out)
{
	struct default_row rows[DEFAULTS_MAX];
	size_t n = defaults_rows(b, rows);

	for (size_t i = 0; i < n; i++)
		sbuf_printf(out, "%s defaults %s %s (%s: %s)\n",
			    strcmp(rows[i].value, "-") == 0 ? "warn" : "ok", rows[i].key,
			    rows[i].value, rows[i].prov, rows[i].why);
}
