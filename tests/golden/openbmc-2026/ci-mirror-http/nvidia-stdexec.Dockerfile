
FROM acme/unit-base:2021-W06-76ffc5b405ed5331

RUN curl -L https://github.com/NVIDIA/stdexec/archive/0a6c3fc4324aed2ce291d49dd228cc3619b24dad.tar.gz | tar -xz && cd stdexec* &&  meson setup builddir --wrap-mode=nodownload -Dprefix=/usr/local  && ninja -C builddir && ninja -C builddir install
