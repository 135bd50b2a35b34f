# tools/image/testdata/image_helpers.sh — bash helpers for the img_* integration tests: build
# real OCI image layouts and docker archives from tar files and JSON, and take EIFs apart.
#
#   source "$TOP/tools/image/testdata/image_helpers.sh"
#   d=$(oci_blob LAYOUT FILE)                  # stores FILE as a blob, prints "sha256:<hex> <size>"
#   oci_image LAYOUT CONFIG_JSON TAG TYPE:LAYER...   # writes config, manifest, index.json, oci-layout
#   docker_archive OUT.tar CONFIG_JSON REPOTAG LAYER.tar...   # the legacy `docker save` layout
#   eif_section EIF TYPE INDEX OUT             # writes the data of the INDEX-th section of TYPE
#                                              # (1 kernel, 2 cmdline, 3 ramdisk, 4 sig, 5 metadata)

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Deterministic tar of the given paths inside DIR (names as given, e.g. ".").
layer_tar() { # OUT DIR PATH...
  local out=$1 dir=$2; shift 2
  tar --sort=name --mtime=@0 --numeric-owner --format=pax --pax-option=delete=atime,delete=ctime -C "$dir" -cf "$out" "$@"
}

oci_blob() { # LAYOUT FILE
  local layout=$1 file=$2 hex
  hex=$(sha256_of "$file")
  mkdir -p "$layout/blobs/sha256"
  cp "$file" "$layout/blobs/sha256/$hex"
  echo "sha256:$hex $(stat -c %s "$file")"
}

# TYPE is tar, gzip or zstd (how the layer file is already compressed).
oci_image() { # LAYOUT CONFIG_JSON TAG TYPE:LAYERFILE...
  local layout=$1 config=$2 tag=$3; shift 3
  mkdir -p "$layout"
  local cfg; cfg=$(mktemp); printf '%s' "$config" > "$cfg"
  local cd cs; read -r cd cs < <(oci_blob "$layout" "$cfg")
  local layers="" sep="" spec mt
  for spec in "$@"; do
    local type=${spec%%:*} file=${spec#*:}
    case $type in
      tar) mt=application/vnd.oci.image.layer.v1.tar ;;
      gzip) mt=application/vnd.oci.image.layer.v1.tar+gzip ;;
      zstd) mt=application/vnd.oci.image.layer.v1.tar+zstd ;;
    esac
    local ld ls; read -r ld ls < <(oci_blob "$layout" "$file")
    layers="$layers$sep{\"mediaType\":\"$mt\",\"digest\":\"$ld\",\"size\":$ls}"; sep=,
  done
  local man; man=$(mktemp)
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
    "$cd" "$cs" "$layers" > "$man"
  local md ms; read -r md ms < <(oci_blob "$layout" "$man")
  printf '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
  local entry="{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$md\",\"size\":$ms,\"annotations\":{\"org.opencontainers.image.ref.name\":\"$tag\"}}"
  if [ -f "$layout/index.json" ]; then   # add to an existing index
    jq -c --argjson e "$entry" '.manifests += [$e]' "$layout/index.json" > "$layout/index.json.new"
    mv "$layout/index.json.new" "$layout/index.json"
  else
    printf '{"schemaVersion":2,"manifests":[%s]}' "$entry" > "$layout/index.json"
  fi
  rm -f "$cfg" "$man"
  echo "$md"
}

# Config JSON for an image (architecture $IMAGE_ARCH, default amd64) whose diff_ids match the
# given uncompressed layer tars.
image_config() { # CONFIG_OBJECT_JSON LAYER.tar...
  local conf=$1; shift
  local ids="" sep="" f
  for f in "$@"; do ids="$ids$sep\"sha256:$(sha256_of "$f")\""; sep=,; done
  printf '{"architecture":"%s","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":[%s]}}' "${IMAGE_ARCH:-amd64}" "$conf" "$ids"
}

# The `docker save` layout before docker 25: <id>/layer.tar, <hex>.json, manifest.json.
docker_archive() { # OUT CONFIG_JSON REPOTAG LAYER.tar...
  local out=$1 config=$2 tag=$3; shift 3
  local dir; dir=$(mktemp -d)
  printf '%s' "$config" > "$dir/config.tmp"
  local chex; chex=$(sha256_of "$dir/config.tmp")
  mv "$dir/config.tmp" "$dir/$chex.json"
  local layers="" sep="" f i=0
  for f in "$@"; do
    i=$((i + 1))
    local id; id=$(printf 'layer%s%s' "$i" "$chex" | sha256sum | cut -d' ' -f1)
    mkdir -p "$dir/$id"; cp "$f" "$dir/$id/layer.tar"
    printf '1.0' > "$dir/$id/VERSION"
    layers="$layers$sep\"$id/layer.tar\""; sep=,
  done
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":[%s]}]' "$chex" "$tag" "$layers" > "$dir/manifest.json"
  tar --sort=name --mtime=@0 -C "$dir" -cf "$out" .
  rm -rf "$dir"
}

be() { # FILE OFFSET BYTES → unsigned big-endian integer
  local hex; hex=$(od -An -tx1 -v -j "$2" -N "$3" "$1" | tr -d ' \n')
  echo $((16#$hex))
}

eif_section() { # EIF TYPE INDEX OUT
  local eif=$1 want=$2 index=$3 out=$4 n i seen=0
  n=$(be "$eif" $((0x1a)) 2)
  for ((i = 0; i < n; i++)); do
    local off type size
    off=$(be "$eif" $((0x1c + 8 * i)) 8)
    type=$(be "$eif" "$off" 2)
    size=$(be "$eif" $((off + 4)) 8)
    if [ "$type" -eq "$want" ]; then
      if [ "$seen" -eq "$index" ]; then
        dd if="$eif" of="$out" iflag=skip_bytes,count_bytes skip=$((off + 12)) count="$size" status=none
        return 0
      fi
      seen=$((seen + 1))
    fi
  done
  echo "no section of type $want #$index in $eif" >&2
  return 1
}

# Unpacks ramdisk INDEX of EIF into DIR with the system cpio.
eif_unpack_ramdisk() { # EIF INDEX DIR
  local tmp; tmp=$(mktemp)
  eif_section "$1" 3 "$2" "$tmp"
  mkdir -p "$3"
  (cd "$3" && cpio -idm --quiet --no-absolute-filenames < "$tmp")
  rm -f "$tmp"
}

# One line per entry below DIR: path, type+mode, uid:gid, size for files, link target for links.
tree_listing() { # DIR
  (cd "$1" && find . -mindepth 1 -printf '%P %M %U:%G %y%s %l\n' | sed -E 's/ d[0-9]+ / d /' | LC_ALL=C sort)
}
