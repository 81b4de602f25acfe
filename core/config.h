/* core/config.h: banger's configuration (DESIGN §4) and VM sizing with
 * provenance. */
#ifndef BANGER_CONFIG_H
#define BANGER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct file_sync {
	char *host;
	char *guest;
	char *mode;   /* NULL when unset */
	int line;
};

struct banger_config {
	char *path;                /* file it came from, NULL if none */
	char *default_image_name;  /* NULL = built-in fallback chain */
	char *default_kernel_name;
	char *ssh_key_path;
	char *firecracker_bin;
	char *jailer_bin;          /* NULL or "" = Firecracker runs without the jailer */
	char *qemu_bin;            /* default "qemu-system-x86_64" */
	char *vmm;                 /* "auto" | "firecracker" | "qemu" */
	char *qemu_accel;          /* "auto" | "kvm" | "tcg" */
	char *disk_clone;          /* "auto" | "reflink" | "dm-snapshot" | "sparse-copy" */
	char *bridge_name;         /* default "br-fc" */
	char *bridge_subnet;       /* default "172.16.0.1/24" (gateway/prefix) */
	int64_t stop_timeout_s;    /* graceful stop before kill, default 30 */
	int64_t dns_port;          /* .vm DNS on the bridge gateway, default 42053, 0 = off */
	/* Delegation and ports (docs/tree.md, "Owners and modes", "Ports"). */
	bool allow_other;          /* other users reach the tree (FUSE allow_other, 9P) */
	char *vm_group;            /* group (name or number) that may make VMs; NULL: none */
	int64_t vm_mode;           /* a new VM's mode, default 0700 */
	char *port_bind;           /* where ports/ listen, default "127.0.0.1" */
	char *snapshot;            /* "auto" (default) | "off": restore VMs from snapshots
				      (docs/snapshots.md) */
	struct {
		bool has_vcpu, has_memory_mib, has_disk_size;
		int64_t vcpu;
		int64_t memory_mib;
		uint64_t disk_size;      /* bytes */
	} vm_defaults;
	struct file_sync *file_sync;
	size_t n_file_sync;

	/* Catalogs (docs/catalog.md) and OCI images (docs/oci.md). */
	char **catalog_urls;       /* catalog_url: one or several, in order */
	size_t n_catalog_urls;
	char *catalog_pubkey;      /* a PEM file, PEM text or its base64 line; NULL = none */
	bool catalog_insecure;     /* file:// catalogs may be unsigned */
	int64_t catalog_ttl;       /* seconds before an index is checked again, default 3600 */
	uint64_t oci_headroom;     /* free bytes in an OCI image beyond its content */
	char *docker_config;       /* Docker's config.json for registry credentials; NULL = default */
	char *oci_inject_dir;      /* banger's init and sshd for container images; NULL = found */
};

/* Fill c with built-in defaults (no file). */
void config_init(struct banger_config *c);
/* Load path.  If path does not exist and must_exist is false, c keeps
 * the defaults and 0 is returned.  Unknown keys, wrong types and bad
 * values are errors naming file:line. */
int config_load(struct banger_config *c, const char *path, bool must_exist,
		struct berr *err);
/* Same from a buffer (used by the fuzzer and unit tests). */
int config_parse(struct banger_config *c, const char *text, size_t len,
		 const char *name, struct berr *err);
void config_free(struct banger_config *c);

/* Where a value came from. */
enum prov { PROV_FLOOR, PROV_DEFAULT, PROV_HOST, PROV_CONFIG, PROV_VM };
const char *prov_name(enum prov p); /* "floor" "default" "host" "config" "vm" */

struct hostinfo {
	long cpus;           /* online CPUs, 0 if unknown */
	uint64_t ram_bytes;  /* MemTotal, 0 if unknown */
};
int hostinfo_read(struct hostinfo *h); /* from sysconf + /proc/meminfo */

/* Built-in floors. */
#define SIZING_FLOOR_VCPU 1
#define SIZING_FLOOR_MEMORY_MIB 512
#define SIZING_DEFAULT_DISK (8ULL << 30)
#define SIZING_MAX_VCPU 4
#define SIZING_MAX_MEMORY_MIB 8192

struct sizing {
	int64_t vcpu;
	int64_t memory_mib;
	uint64_t disk_size;  /* bytes */
	enum prov vcpu_prov, memory_prov, disk_prov;
};
/* config value, else host heuristic (cpus/4 capped at 4; ram/8 capped at
 * 8 GiB), else floor; disk: config else 8 GiB (PROV_DEFAULT). */
void sizing_resolve(const struct banger_config *c, const struct hostinfo *h,
		    struct sizing *out);

#endif
