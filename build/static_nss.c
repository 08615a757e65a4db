/* Static builds only (make static): host names are looked up with glibc's built-in
 * "files" and "dns" services, whatever /etc/nsswitch.conf names.
 *
 * A static glibc still reads nsswitch.conf and dlopen()s the modules it names (mdns4_minimal
 * on Ubuntu desktops, resolve and myhostname on Fedora). Such a module is linked against the
 * machine's own libc.so.6, so a static binary from another glibc version ends up with two C
 * libraries in one process and dies in the module (SIGFPE, seen with Debian 13's
 * libnss-mdns). Since glibc 2.34 "files" (/etc/hosts) and "dns" (/etc/resolv.conf) are
 * inside libc itself, so with this line no module is ever loaded.
 *
 * A constructor, so it runs before main and no Rust code calls into C (the crate forbids
 * unsafe code); build.rs links it whole into static builds and nowhere else. */
#include <nss.h>

__attribute__((constructor)) static void bookchat_static_nss(void) {
    __nss_configure_lookup("hosts", "files dns");
}
