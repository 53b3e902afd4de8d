# Banter in a container: a static-ish release build on Debian, run as an unprivileged user.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin banter

FROM debian:bookworm-slim
# /data/files: uploaded files (DATA_DIR), a volume the nodes share.
RUN useradd --system --home /data --create-home banter && install -d -o banter /data/files
COPY --from=build /src/target/release/banter /usr/local/bin/banter
USER banter
WORKDIR /data
ENV HOST=0.0.0.0 PORT=8000 DATA_DIR=/data/files
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=6s CMD ["banter", "healthcheck"]
CMD ["banter", "serve"]
