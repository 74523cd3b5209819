#!/usr/bin/perl
# Writes a tiny MaxMind DB for CountryDatabaseTests to the path given as the only argument.
# Needs MaxMind::DB::Writer (Debian: libmaxmind-db-writer-perl; scripts/setup installs it).
#
#   203.0.113.0/24  -> country NZ               (IPv4, stored at ::203.0.113.0/120 in the v6 tree)
#   2001:db8::/32   -> country SE
#   198.51.100.0/24 -> registered_country CA only (no "country": readers must fall back)
#
# All three are documentation networks (RFC 5737 / RFC 3849), which the writer drops silently
# unless remove_reserved_networks is off. alias_ipv6_to_ipv4 makes ::ffff:0:0/96 (and 6to4,
# Teredo) point at the IPv4 subtree, as in MaxMind's own GeoIP2 databases.
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my $path = shift @ARGV or die "usage: $0 OUTPUT.mmdb\n";

my %types = (
    country            => 'map',
    registered_country => 'map',
    iso_code           => 'utf8_string',
);

my $tree = MaxMind::DB::Writer::Tree->new(
    database_type            => 'GeoIP2-Country',
    ip_version               => 6,
    record_size              => 24,
    languages                => ['en'],
    description              => { en => 'event-pipeline CountryDatabaseTests fixture' },
    alias_ipv6_to_ipv4       => 1,
    remove_reserved_networks => 0,
    map_key_type_callback    => sub { $types{ $_[0] } or die "no type for key $_[0]\n" },
);

$tree->insert_network('203.0.113.0/24',  { country            => { iso_code => 'NZ' } });
$tree->insert_network('2001:db8::/32',   { country            => { iso_code => 'SE' } });
$tree->insert_network('198.51.100.0/24', { registered_country => { iso_code => 'CA' } });

open my $fh, '>:raw', $path or die "cannot write $path: $!\n";
$tree->write_tree($fh);
close $fh or die "cannot close $path: $!\n";
