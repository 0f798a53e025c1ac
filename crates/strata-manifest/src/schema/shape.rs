//! The small language the field tables are written in: a shape per value, objects of named
//! fields, and the constructors that keep the tables short.

use crate::config::UnmanagedKind;

#[derive(Clone, Debug)]
pub(crate) enum Shape {
    Any,
    String,
    /// A string, number or boolean, kept as written and read as text (environment values).
    Text,
    Integer,
    Bool,
    Enum(&'static [&'static str]),
    Array(Box<Shape>),
    Map(Box<Shape>),
    Object(Object),
    AnyOf(Vec<Shape>),
    Ref(&'static str),
}

#[derive(Clone, Debug)]
pub(crate) struct Object {
    pub(super) fields: Vec<Field>,
    pub(super) required: &'static [&'static str],
    /// Keys that stand in for the required ones (a function with `image` has no `handler`;
    /// the image itself is the one error to report).
    pub(super) replaces_required: &'static [&'static str],
    /// Free-form keys beside the listed ones (e.g. `custom:`); `None` means strict.
    pub(super) additional: Option<Box<Shape>>,
}

#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub(super) name: &'static str,
    pub(super) shape: Shape,
    pub(super) description: &'static str,
    pub(super) unmanaged: Option<UnmanagedKind>,
    pub(super) deprecated: Option<&'static str>,
}

impl Field {
    pub(super) fn unmanaged(mut self, kind: UnmanagedKind) -> Self {
        self.unmanaged = Some(kind);
        self
    }

    pub(super) fn deprecated(mut self, replacement: &'static str) -> Self {
        self.deprecated = Some(replacement);
        self
    }
}

pub(super) fn f(name: &'static str, shape: Shape, description: &'static str) -> Field {
    Field {
        name,
        shape,
        description,
        unmanaged: None,
        deprecated: None,
    }
}

/// A key strata keeps in the resolved config but does not act on yet.
pub(super) fn kept(name: &'static str, shape: Shape, description: &'static str) -> Field {
    f(name, shape, description).unmanaged(UnmanagedKind::Setting)
}

pub(super) fn obj(fields: Vec<Field>) -> Shape {
    obj_required(fields, &[])
}

pub(super) fn obj_required(fields: Vec<Field>, required: &'static [&'static str]) -> Shape {
    Shape::Object(Object {
        fields,
        required,
        replaces_required: &[],
        additional: None,
    })
}

impl Shape {
    pub(super) fn replacing_required(self, keys: &'static [&'static str]) -> Self {
        match self {
            Shape::Object(object) => Shape::Object(Object {
                replaces_required: keys,
                ..object
            }),
            other => other,
        }
    }
}

pub(super) fn arr(shape: Shape) -> Shape {
    Shape::Array(Box::new(shape))
}

pub(super) fn map(shape: Shape) -> Shape {
    Shape::Map(Box::new(shape))
}

pub(super) fn strings() -> Shape {
    arr(Shape::String)
}
