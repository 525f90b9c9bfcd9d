//! The Turbo VAE decoder (`inference/model/turbo_vaed`).
